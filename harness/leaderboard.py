"""The leaderboard: a pure function of results/runs/. Nothing else is read.

Each run folder carries its resolved config, its task file, metrics, compute record, provenance and
status, so the tables can be rebuilt at any time from the folders alone. Metric columns, their order,
direction, headline flag and seed aggregation come from the task files' declarations: no metric is
special-cased here. A broken folder (unreadable JSON, a missing file) is skipped and reported.

- results/leaderboard_runs.csv: one row per run (diverged runs included, with their error);
- results/leaderboard.csv: one row per setting (the resolved config but its seed): the mean (or the
  declared aggregate, e.g. the median of p-values) over the seeds that completed, a `_std` column for
  each number, `n_seeds` (completed seeds) and `n_diverged`;
- results/leaderboard_selected.csv and leaderboard_sweep.csv, when the runs hold sweeps
  (harness/selected.py): each swept method at its selected setting, and every trial;
- results/leaderboard.html: the page (harness/page.py).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from harness.config import ConfigError
from harness.curves import run_series  # curve.jsonl and requests.jsonl, for the page's plots
from harness.io import stable_hash, write_text_atomic
from harness.robustness import ROBUSTNESS_ATTACKS, robustness
from harness.stats import CI_METRICS

ID = ["task", "method", "model", "seed", "status"]
COMPUTE = ["unlearn_s", "eval_s", "steps", "tokens_forward", "tokens_backward", "trainable_params", "flops",
           "unlearn_flops", "peak_mem_mb", "gpu_peak_mem_mb", "gpu_seconds", "device_type", "cost_vs_retrain",
           "time_vs_retrain"]
TAIL = ["lr", "epochs", "adapter", "method_args", "setting", "run_id", "error"]
# What the other forms of unlearning (harness/forms/) record in form.json and the rows show: the form's
# kind, a caveat, and the numbers that are their cost or guarantee.
FORM_NUMBERS = ["epsilon", "extra_prompt_tokens", "train_vs_target", "n_retrained_shards", "shards"]
REFERENCE_ROWS = {"target": 0, "retain": 1, "base": 1}  # evaluated as they are: reference lines


@dataclass
class Report:
    runs: pd.DataFrame
    table: pd.DataFrame
    specs: dict            # task -> {metric: spec dict} (declaration order)
    details: dict          # run_id -> {config, compute, provenance, status, error}
    broken: list = field(default_factory=list)  # (folder, reason) skipped
    selected: pd.DataFrame = field(default_factory=pd.DataFrame)  # swept methods at their selected setting
    sweep: pd.DataFrame = field(default_factory=pd.DataFrame)     # every trial of every sweep

    @property
    def rows(self) -> int:
        return len(self.table)

    def summary(self) -> str:
        cols = [c for c in ["task", "method", "n_seeds", "status", "forget_quality", "ks_stat", "model_utility",
                            "forget_rouge", "hazard_acc", "general_acc", "cost_vs_retrain"] if c in self.table]
        return self.table[cols].to_string(index=False)


def natural_start(family: str) -> str:
    """The start model of a family's runs ("target" for a family this installation does not know)."""
    from harness.tracks import load_tracks
    track = load_tracks().get(family)
    return track.start if track is not None else "target"


def row_label(cfg: dict, family: str) -> str:
    """The method column: the method (+adapter), 'eval <model>' for an evaluated model, or the start
    model's role (target, retain, base) for a reference row."""
    if cfg["method"] == "none":
        evaluated = (cfg.get("model") or {}).get("evaluate")
        if evaluated:
            from harness.runs import model_label
            return f"eval {model_label(evaluated)}"
        return cfg["start"]
    label = cfg["method"]
    adapter = (cfg.get("adapter") or {}).get("kind", "none")
    if adapter != "none":
        label += "+" + adapter
    natural = natural_start(family)
    if cfg["start"] not in (natural, "auto"):
        label += f" (from {cfg['start']})"
    return label


def form_columns(folder: Path, cfg: dict) -> dict:
    """`form` (approximate: the unlearning loop; reference: a model as is; or the form's kind: exact,
    in-context, dp-training), `note` and the form's numbers, from the run's form.json."""
    path = folder / "form.json"
    if not path.is_file():
        return {"form": "reference" if cfg["method"] == "none" else "approximate", "note": None}
    f = json.loads(path.read_text())
    out = {"form": f["kind"], "note": f.get("note") or None, "method": f["label"]}
    if "retrained_shards" in f:
        f = {**f, "n_retrained_shards": len(f["retrained_shards"])}
    out.update({k: f.get(k) for k in FORM_NUMBERS if k in f})
    return out


def attack_columns(folder: Path, metrics: dict) -> dict:
    """`<attack>_<label>_<metric>` for every complete attack in the run folder (harness/attacks/): the
    task's headline metrics measured again under the attack, and `<attack>_<label>_recovery` (the share
    of what the method removed that the attack restores: harness/robustness.py), with the run's
    `robustness` from them. An unreadable attack is left out."""
    out = {}
    for status in sorted(folder.glob("attacks/*/status.json")):
        try:
            st = json.loads(status.read_text())
            if st.get("status") != "complete":
                continue
            for label in st.get("labels") or []:
                m = json.loads((status.parent / label / "metrics.json").read_text())
                out.update({f"{status.parent.name}_{label}_{k}": m[k] for k, spec in metrics.items()
                            if isinstance(spec, dict) and spec.get("headline") and isinstance(m.get(k), (int, float))})
                if isinstance(m.get("recovery"), (int, float)):
                    out[f"{status.parent.name}_{label}_recovery"] = m["recovery"]
        except (OSError, ValueError):
            continue
    score = robustness({(a, lb): out.get(f"{a}_{lb}_recovery") for a, lb in ROBUSTNESS_ATTACKS})
    if score is not None:
        out["robustness"] = score
    return out


def parse_attack_column(col: str, metrics) -> tuple[str, str, str] | None:
    """(attack, label, metric) of a column attack_columns wrote, or None. Attack names may contain '_'
    (relearn_ood), so the longest registered name that prefixes the column wins."""
    from harness.attacks import load_attacks
    attack = next((a for a in sorted(load_attacks(), key=len, reverse=True) if col.startswith(a + "_")), None)
    metric = next((m for m in sorted(metrics, key=len, reverse=True) if col.endswith("_" + m)), None)
    if attack is None or metric is None or len(col) <= len(attack) + len(metric) + 2:
        return None
    return attack, col[len(attack) + 1:-len(metric) - 1], metric


def _read(folder: Path) -> tuple[dict, dict, dict]:
    """(row, task spec, details) of one complete run folder; raises on a broken one."""
    status = json.loads((folder / "status.json").read_text())
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    task = yaml.safe_load((folder / "task.yaml").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    compute = json.loads((folder / "compute.json").read_text())
    prov_path = folder / "provenance.json"
    prov = json.loads(prov_path.read_text()) if prov_path.exists() else {}
    if not isinstance(cfg, dict) or not isinstance(task, dict) or not isinstance(metrics, dict):
        raise ValueError("config.yaml, task.yaml or metrics.json is not a mapping")
    # runs that differ only in their seed are aggregated together; any other difference splits them
    setting = stable_hash({k: v for k, v in cfg.items() if k not in ("seed", "results_dir")
                           and not (k == "sweep" and not (v or {}).get("name"))}, 8)  # as before sweeps existed
    model = cfg["model"].get("evaluate") or cfg["model"]["target"] or cfg["model"]["base"]
    row = {"task": str(cfg["task"]), "method": row_label(cfg, task.get("family", "tofu")), "model": str(model),
           "seed": cfg["seed"], "status": status["status"], "error": status.get("error"),
           **{k: v for k, v in metrics.items()},
           **{k: compute.get(k) for k in COMPUTE}, "tokens": compute.get("tokens_forward"),
           "lr": cfg["unlearn"]["lr"], "epochs": cfg["unlearn"]["epochs"],
           "adapter": (cfg.get("adapter") or {}).get("kind", "none"),
           "method_args": json.dumps(cfg.get("method_args") or {}, sort_keys=True), "setting": setting,
           "run_id": folder.name, "reference_row": cfg["method"] == "none" and not cfg["model"].get("evaluate")}
    row.update(attack_columns(folder, task.get("metrics") or {}))
    row.update(form_columns(folder, cfg))
    details = {"config": cfg, "compute": compute, "provenance": prov, "status": status["status"],
               "error": status.get("error"), "series": run_series(folder)}
    return row, {"family": task.get("family", "tofu"), "version": task.get("version", 0),
                 "metrics": task.get("metrics") or {}}, details


def collect(results_dir: Path) -> tuple[pd.DataFrame, dict, dict, list]:
    """Per-run rows, task specs, run details and the broken folders that were skipped."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ConfigError(f"results folder '{results_dir}' does not exist")
    rows, specs, details, broken = [], {}, {}, []
    for f in sorted((results_dir / "runs").glob("*")):
        if not f.is_dir() or f.name.startswith(".") or not (f / "status.json").exists():
            continue  # scratch folders and runs in progress are not results
        try:
            row, spec, det = _read(f)
        except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as e:
            broken.append((str(f), f"{type(e).__name__}: {str(e)[:160]}"))
            continue
        rows.append(row)
        details[row["run_id"]] = det
        have = specs.get(row["task"])
        if have is None or spec["version"] > have["version"]:  # the newest task version's declaration
            specs[row["task"]] = spec
    df = pd.DataFrame(rows)
    if not df.empty:
        df["_o"] = df.apply(lambda r: REFERENCE_ROWS.get(r["method"], 2) if r["reference_row"] else 2, axis=1)
        df = df.sort_values(["task", "_o", "method", "seed"]).drop(columns="_o").reset_index(drop=True)
    return df, specs, details, broken


def _numeric(df: pd.DataFrame, c: str) -> bool:
    return pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])


def aggregate(df: pd.DataFrame, specs: dict) -> pd.DataFrame:
    """One row per (task, method, model, setting): completed seeds only, with each metric's declared
    aggregate (mean, or median for p-values), a std, `n_seeds` (completed) and `n_diverged`."""
    if df.empty:
        return df
    keys = ["task", "method", "model", "setting"]
    numeric = [c for c in df.columns if c not in keys + ["seed"] and _numeric(df, c)]
    rows = []
    for k, g in df.groupby(keys, sort=False):
        done = g[g["status"] == "complete"]
        row = dict(zip(keys, k))
        row["seed"] = ",".join(str(s) for s in sorted(g["seed"]))
        row["n_seeds"] = len(done)
        row["n_diverged"] = int((g["status"] == "diverged").sum())
        statuses = g["status"].value_counts()
        row["status"] = statuses.index[0] if len(statuses) == 1 else \
            ", ".join(f"{n} {s}" for s, n in statuses.items())
        how = {m: s.get("aggregate", "mean") for m, s in specs.get(k[0], {}).get("metrics", {}).items()}
        for c in numeric:
            vals = done[c].dropna() if len(done) else g[c].dropna()  # a diverged-only setting keeps its cost
            row[c] = (vals.median() if how.get(c) == "median" else vals.mean()) if len(vals) else None
            row[f"{c}_std"] = vals.std() if len(vals) > 1 else None
        for c in df.columns:  # a non-numeric column keeps its value where every run agrees on it
            if c not in row and c not in numeric:
                vals = list((done if len(done) else g)[c])
                same = len({json.dumps(v, sort_keys=True, default=str) for v in vals}) == 1
                row[c] = vals[0] if same and not (c.endswith("_ci") and len(vals) > 1) else None
        row["run_ids"] = list(g["run_id"])
        rows.append(row)
    out = pd.DataFrame(rows)
    lead = ["task", "method", "model", "seed", "n_seeds", "n_diverged", "status"]
    return out[lead + [c for c in out.columns if c not in lead]]


def build(results_dir: Path = Path("results")) -> Report:
    """Write the two CSV files and the page; return what was built (and what was skipped)."""
    from harness.page import render
    from harness import selected as SEL
    runs, specs, details, broken = collect(results_dir)
    runs, sweep_runs = SEL.split(runs, details)  # a sweep's trials are not results: its own view and CSV
    table = aggregate(runs, specs)
    chosen, trials = SEL.view(sweep_runs, details, specs)
    for folder, why in broken:
        print(f"[harness] leaderboard: skipped broken run folder {folder} ({why})", file=sys.stderr)
    report = Report(runs, table, specs, details, broken, chosen, trials)
    results_dir = Path(results_dir)
    write_text_atomic(results_dir / "leaderboard_runs.csv", runs.to_csv(index=False))
    write_text_atomic(results_dir / "leaderboard.csv", table.drop(columns=["run_ids"], errors="ignore").to_csv(index=False))
    for name, df in (("leaderboard_selected.csv", chosen), ("leaderboard_sweep.csv", trials)):
        if not df.empty:
            write_text_atomic(results_dir / name, df.to_csv(index=False))
        elif (results_dir / name).exists():
            (results_dir / name).unlink()  # a pure function of runs/: no sweep runs, no sweep tables
    write_text_atomic(results_dir / "leaderboard.html", render(report))
    return report


__all__ = ["build", "collect", "aggregate", "Report", "CI_METRICS"]
