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

from harness.attack_settings import attack_of, is_default, parse_attack_column
from harness.config import ConfigError, normalised
from harness.curves import run_series  # curve.jsonl and requests.jsonl, for the page's plots
from harness.eligibility import screen_runs, setting_verdict
from harness.io import shorten, stable_hash, write_text_atomic
from harness.robustness import ROBUSTNESS_ATTACKS, robustness
from harness.tasks import DEFAULT_FAMILY

ID = ["task", "method", "model", "seed", "status"]
COMPUTE = ["unlearn_s", "eval_s", "steps", "tokens_forward", "tokens_backward", "trainable_params", "flops",
           "unlearn_flops", "peak_mem_mb", "peak_rss_mb", "gpu_peak_mem_mb", "gpu_seconds", "device_type",
           "cost_vs_retrain", "time_vs_retrain", "retrain_device"]
TAIL = ["lr", "epochs", "select", "select_on", "selected_step", "adapter", "method_args", "setting", "run_id", "error"]
# What the other forms of unlearning (harness/forms/) record in form.json and the rows show: the form's
# kind, a caveat, and the numbers that are their cost or guarantee.
FORM_NUMBERS = ["epsilon", "delta", "author_examples", "author_epsilon", "author_delta", "extra_prompt_tokens",
                "train_vs_target", "n_retrained_shards", "shards"]
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
    folder: str = "results"    # the results folder, as given (the page names it)

    @property
    def rows(self) -> int:
        return len(self.table)

    def summary(self) -> str:
        cols = [c for c in ["task", "method", "n_seeds", "status", "forget_quality", "ks_stat", "model_utility",
                            "forget_rouge", "hazard_acc", "general_acc", "cost_vs_retrain"] if c in self.table]
        return self.table[cols].to_string(index=False)


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
    from harness.families import start_of
    natural = start_of(family)
    if cfg["start"] not in (natural, "auto"):
        label += f" (from {cfg['start']})"
    u = cfg.get("unlearn") or {}
    if u.get("select", "last") != "last":  # a checkpoint chosen by a rule, not the last step: say so, and where
        label += f" +select:{u['select']}" + (" (on scored items)" if u.get("select_on", "evaluated") == "evaluated"
                                                else "")
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


def attack_columns(folder: Path, metrics: dict, with_details: bool = False):
    """`<attack>_<label>_<metric>` for every complete attack in the run folder (harness/attacks/): the
    task's headline metrics measured again under the attack, `<attack>_<label>_recovery` (the share of
    what the method removed that the attack restores: harness/robustness.py) and beside it
    `<attack>_<label>_removed` (what the method removed on the attack's items), with the run's
    `robustness` from the default-settings folders' recoveries. `<attack>` is the results folder's name:
    the attack's own at its default settings, `relearn@lr=0.01` at others (harness/attack_settings.py).
    An unreadable attack is left out.

    with_details=True returns (columns, details): details = {} for a run without attacks, else
    {"robustness": number or None, "robustness_note": why it is None (else None),
     "attacks": {folder: {"attack": name, "default": whether at the default settings,
                          "settings": its config.yaml, "recovery_metric": metric or None,
                          "labels": {label: {"recovery", "removed", "removed_se", "removed_n",
                                             "recovery_note"}}}}}
    (numbers or None; recovery_note says why recovery is None)."""
    out, attacks = {}, {}
    for status in sorted(folder.glob("attacks/*/status.json")):
        name = status.parent.name
        try:
            st = json.loads(status.read_text())
            if st.get("status") != "complete":
                continue
            settings = yaml.safe_load((status.parent / "config.yaml").read_text()) \
                if (status.parent / "config.yaml").is_file() else {}
            entry = {"attack": attack_of(name), "default": is_default(name), "settings": settings or {},
                     "recovery_metric": None, "labels": {}}
            for label in st.get("labels") or []:
                m = json.loads((status.parent / label / "metrics.json").read_text())
                out.update({f"{name}_{label}_{k}": m[k] for k, spec in metrics.items()
                            if isinstance(spec, dict) and spec.get("headline") and isinstance(m.get(k), (int, float))})
                for k in ("recovery", "removed"):
                    if isinstance(m.get(k), (int, float)) and not isinstance(m.get(k), bool):
                        out[f"{name}_{label}_{k}"] = m[k]
                entry["recovery_metric"] = m.get("recovery_metric", entry["recovery_metric"])
                entry["labels"][label] = {k: m.get(k) for k in ("recovery", "removed", "removed_se", "removed_n",
                                                                "recovery_note")}
            attacks[name] = entry
        except (OSError, ValueError, yaml.YAMLError):
            continue
    score = robustness({(a, lb): out.get(f"{a}_{lb}_recovery") for a, lb in ROBUSTNESS_ATTACKS})
    if score is not None:
        out["robustness"] = score
    if not with_details:
        return out
    if not attacks:
        return out, {}
    why = None
    if score is None:
        missing = []
        for a, lb in ROBUSTNESS_ATTACKS:
            got = (attacks.get(a) or {}).get("labels", {}).get(lb)
            if got is None:
                missing.append(f"no {a} {lb} result (attack {a} at its default settings with label {lb})")
            elif got.get("recovery") is None:
                missing.append(f"{a} {lb}: no recovery ({got.get('recovery_note') or 'not recorded'})")
        why = "; ".join(missing) or None
    return out, {"robustness": score, "robustness_note": why, "attacks": attacks}


def _checked_metrics(metrics: dict) -> tuple[dict, list[str]]:
    """A run's numbers, each a number (or None, or an interval: a list of two numbers); anything else
    (text where a number belongs, a hand-edited file) is left out of the tables and named in `flags`,
    not written into the CSV as if it were a result."""
    out, flags = {}, []
    for k, v in metrics.items():
        number = isinstance(v, (int, float)) and not isinstance(v, bool)
        interval = isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)
        if v is None or number or interval:
            out[k] = v
        else:
            flags.append(f"{k} is not a number ({shorten(repr(v), 40)})")
    return out, flags


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
    # runs that differ only in their seed are aggregated together; any other difference splits them.
    # Compared as the run id compares them (defaults filled in, identity-neutral keys dropped), so a
    # folder written before a config key existed groups with one written after
    same = {k: v for k, v in normalised(cfg).items() if k != "seed"}
    setting = stable_hash(same, 8)
    # the same across world seeds too, for one version of the task: what the table and a replicated
    # study group (harness/significance.py); runs of another task version never join them
    replicate = stable_hash({"task_version": task.get("version", 0),
                             **{k: (v if k != "world" else {**v, "seed": None}) for k, v in same.items()}}, 8)
    model = cfg["model"].get("evaluate") or cfg["model"]["target"] or cfg["model"]["base"]
    metrics, flags = _checked_metrics(metrics)
    row = {"task": str(cfg["task"]), "method": row_label(cfg, task.get("family", DEFAULT_FAMILY)), "model": str(model),
           "seed": cfg["seed"], "world_seed": (cfg.get("world") or {}).get("seed", 0), "status": status["status"],
           "error": status.get("error"),
           "warnings": "; ".join(status.get("warnings") or []) or None, "flags": "; ".join(flags) or None,
           **{k: v for k, v in metrics.items()},
           **{k: compute.get(k) for k in COMPUTE}, "tokens": compute.get("tokens_forward"),
           "lr": cfg["unlearn"]["lr"], "epochs": cfg["unlearn"]["epochs"],
           "select": cfg["unlearn"].get("select", "last"), "selected_step": compute.get("selected_step"),
           "select_on": cfg["unlearn"].get("select_on", "evaluated") if cfg["unlearn"].get("select", "last") != "last"
           else None,
           "adapter": (cfg.get("adapter") or {}).get("kind", "none"),
           "method_args": json.dumps(cfg.get("method_args") or {}, sort_keys=True), "setting": setting,
           "replicate": replicate,
           "run_id": folder.name, "reference_row": cfg["method"] == "none" and not cfg["model"].get("evaluate")}
    columns, attacks = attack_columns(folder, task.get("metrics") or {}, with_details=True)
    row.update(columns)
    row.update(form_columns(folder, cfg))
    details = {"config": cfg, "compute": compute, "provenance": prov, "status": status["status"],
               "error": status.get("error"), "warnings": status.get("warnings") or [], "series": run_series(folder),
               **({"attacks": attacks} if attacks else {})}
    return row, {"family": task.get("family", DEFAULT_FAMILY), "version": task.get("version", 0),
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
            broken.append((str(f), f"{type(e).__name__}: {shorten(str(e), 160)}"))
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


def _aggregate_of(column: str, declared: dict) -> str:
    """How seeds are combined for a column: its metric's declared aggregate; an attack's column
    (`relearn_k10_forget_quality`) takes the aggregate of the metric it measures again (a p-value's
    median, under attack as without)."""
    if column in declared:
        return declared[column].get("aggregate", "mean")
    parsed = parse_attack_column(column, declared) if declared else None
    return declared[parsed[2]].get("aggregate", "mean") if parsed and parsed[2] in declared else "mean"


def _spread(vals: pd.Series) -> float:
    """The std over seeds; float noise from identical numbers (6.8e-17 from three equal values) is 0."""
    sd = float(vals.std())
    return 0.0 if sd <= 1e-12 * max(1.0, float(vals.abs().max())) else sd


def aggregate(df: pd.DataFrame, specs: dict) -> pd.DataFrame:
    """One row per (task, method, model, setting across world seeds): completed seeds only, with each
    metric's declared aggregate (mean, or median for p-values) over world and run seeds, a std,
    `n_seeds` (completed runs), `n_worlds` (their world seeds) and `n_diverged`. A replicated study's
    intervals and ranks are harness/significance.py's."""
    if df.empty:
        return df
    keys = ["task", "method", "model", "replicate" if "replicate" in df else "setting"]
    df = df.copy()
    declared = {m for spec in specs.values() for m in spec.get("metrics", {})}
    for c in declared & set(df.columns):
        # a declared metric missing from every run (privleak where the retain model's AUC is 0) arrives as
        # None: it is still a number column, empty, so the table keeps it
        if df[c].dtype == object and df[c].map(lambda v: v is None or isinstance(v, (int, float))).all():
            df[c] = pd.to_numeric(df[c])
    numeric = [c for c in df.columns if c not in keys + ["seed", "world_seed"] and _numeric(df, c)]
    rows = []
    for k, g in df.groupby(keys, sort=False):
        done = g[g["status"] == "complete"]
        row = dict(zip(keys, k))
        row["seed"] = ",".join(str(s) for s in sorted(set(g["seed"])))  # run seeds (in every world)
        row["n_seeds"] = len(done)
        row["n_worlds"] = int(done["world_seed"].nunique()) if "world_seed" in done else 1
        row["n_diverged"] = int((g["status"] == "diverged").sum())
        statuses = g["status"].value_counts()
        row["status"] = statuses.index[0] if len(statuses) == 1 else \
            ", ".join(f"{n} {s}" for s, n in statuses.items())
        declared = specs.get(k[0], {}).get("metrics", {})
        for c in numeric:
            vals = done[c].dropna() if len(done) else g[c].dropna()  # a diverged-only setting keeps its cost
            row[c] = (vals.median() if _aggregate_of(c, declared) == "median" else vals.mean()) if len(vals) else None
            row[f"{c}_std"] = _spread(vals) if len(vals) > 1 else None
        row["eligible"], row["eligible_why"] = setting_verdict(done)
        for c in df.columns:  # a non-numeric column keeps its value where every run agrees on it
            if c not in row and c not in numeric:
                vals = list((done if len(done) else g)[c])
                same = len({json.dumps(v, sort_keys=True, default=str) for v in vals}) == 1
                row[c] = vals[0] if same and not (c.endswith("_ci") and len(vals) > 1) else None
        row["run_ids"] = list(g["run_id"])
        rows.append(row)
    out = pd.DataFrame(rows)
    lead = ["task", "method", "model", "seed", "n_seeds", "n_worlds", "n_diverged", "status"]
    return out[lead + [c for c in out.columns if c not in lead]]


def build(results_dir: Path = Path("results")) -> Report:
    """Write the two CSV files and the page; return what was built (and what was skipped)."""
    from harness.page import render
    from harness import selected as SEL
    runs, specs, details, broken = collect(results_dir)
    runs, sweep_runs = SEL.split(runs, details)  # a sweep's trials are not results: its own view and CSV
    if not runs.empty:
        runs = screen_runs(runs, specs)  # which rows may be marked best (harness/eligibility.py)
    table = aggregate(runs, specs)
    chosen, trials = SEL.view(sweep_runs, details, specs)
    for folder, why in broken:
        print(f"[harness] leaderboard: skipped broken run folder {folder} ({why})", file=sys.stderr)
    report = Report(runs, table, specs, details, broken, chosen, trials, str(results_dir))
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


__all__ = ["build", "collect", "aggregate", "Report"]
