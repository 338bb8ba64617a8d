"""The leaderboard: a pure function of results/runs/. Nothing else is read.

Each run folder carries its resolved config, its task file, metrics, compute record and status, so the
tables can be rebuilt at any time from the folders alone. The metric columns, their order and their
direction come from the task files' declarations: no metric is special-cased here.

- results/leaderboard_runs.csv: one row per run.
- results/leaderboard.csv: one row per setting (the resolved config but its seed) with the mean over seeds, a `_std`
  column for each number and `n_seeds`; with one seed it equals the run row (std empty).
- results/leaderboard.html: the aggregated table, one section per task, mean ± std and the bootstrap
  95% intervals of the run (single seed) beside model utility and the forget metrics.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import yaml

from harness.io import stable_hash, write_text_atomic
from harness.stats import CI_METRICS

ID = ["task", "method", "model", "seed", "status"]
COMPANIONS = {"forget_quality": ["ks_stat", "ks_n"]}  # shown right after the metric they qualify
COMPUTE = ["unlearn_s", "eval_s", "steps", "tokens_forward", "tokens_backward", "trainable_params", "flops",
           "peak_mem_mb", "gpu_peak_mem_mb", "gpu_seconds", "device_type", "cost_vs_retrain", "time_vs_retrain"]
TAIL = ["lr", "epochs", "adapter", "method_args", "setting", "run_id"]
BASELINE_ORDER = {"target": 0, "retain": 1}


def _read(folder: Path) -> tuple[dict, dict] | None:
    if not (folder / "status.json").exists():
        return None  # incomplete or in progress: not a result
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    task = yaml.safe_load((folder / "task.yaml").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    compute = json.loads((folder / "compute.json").read_text())
    status = json.loads((folder / "status.json").read_text())
    method = cfg["method"] if cfg["method"] != "none" else cfg["start"]
    adapter = cfg.get("adapter", {}).get("kind", "none")
    if cfg["method"] != "none" and adapter != "none":
        method += "+" + adapter
    natural_start = "base" if task.get("family") == "wmdp" else "target"
    if cfg["method"] != "none" and cfg["start"] != natural_start:
        method += f" (from {cfg['start']})"
    # runs that differ only in their seed are aggregated together; any other difference splits them
    setting = stable_hash({k: v for k, v in cfg.items() if k not in ("seed", "results_dir")}, 8)
    row = {"task": cfg["task"], "method": method, "model": cfg["model"]["target"] or cfg["model"]["base"],
           "seed": cfg["seed"], "status": status["status"], **metrics,
           **{k: compute.get(k) for k in COMPUTE}, "tokens": compute.get("tokens_forward"),
           "lr": cfg["unlearn"]["lr"], "epochs": cfg["unlearn"]["epochs"], "adapter": adapter,
           "method_args": json.dumps(cfg.get("method_args") or {}, sort_keys=True), "setting": setting, "run_id": folder.name}
    return row, task.get("metrics") or {}


def _declared(specs: list[dict]) -> tuple[list[str], dict]:
    """Metric columns in declaration order (first task file wins), and name -> direction."""
    cols, direction = [], {}
    for spec in specs:
        for name, s in spec.items():
            if name not in direction:
                direction[name] = s.get("direction", "higher")
                cols += [name] + COMPANIONS.get(name, [])
    return cols, direction


def collect(results_dir: Path) -> tuple[pd.DataFrame, dict]:
    """Per-run rows and metric directions."""
    read = [r for f in sorted((Path(results_dir) / "runs").glob("*"))
            if f.is_dir() and not f.name.startswith(".") for r in [_read(f)] if r]
    metric_cols, direction = _declared([t for _, t in read])
    ci = [f"{m}_ci" for m in CI_METRICS]
    cols = ID + metric_cols + ["tokens"] + COMPUTE + ci + TAIL
    df = pd.DataFrame([row for row, _ in read], columns=list(dict.fromkeys(cols)))
    if not df.empty:
        df["_o"] = df["method"].map(lambda m: BASELINE_ORDER.get(m, 2))
        df = df.sort_values(["task", "_o", "method", "seed"]).drop(columns="_o").reset_index(drop=True)
    return df, direction


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds for every numeric column of each (task, method, model)."""
    if df.empty:
        return df
    keys = ["task", "method", "model", "setting"]
    numeric = [c for c in df.columns if c not in keys + ["seed"] and pd.api.types.is_numeric_dtype(df[c])]
    rows = []
    for k, g in df.groupby(keys, sort=False):
        row = dict(zip(keys, k))
        row["seed"] = ",".join(str(s) for s in sorted(g["seed"]))
        row["n_seeds"] = len(g)
        row["status"] = ",".join(sorted(set(g["status"])))
        for c in numeric:
            vals = g[c].dropna()
            row[c] = vals.mean() if len(vals) else None
            row[f"{c}_std"] = vals.std() if len(vals) > 1 else None
        for c in df.columns:
            if c not in row and c not in numeric:
                row[c] = g[c].iloc[0] if len(g) == 1 else None  # e.g. CI lists of a single run
        rows.append(row)
    out = pd.DataFrame(rows)
    lead = ["task", "method", "model", "seed", "n_seeds", "status"]
    return out[lead + [c for c in out.columns if c not in lead]]


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:.3g}" if (abs(v) < 1e-3 and v != 0) or abs(v) >= 1e4 else f"{v:.3f}"
    return html.escape(str(v))


def to_html(agg: pd.DataFrame, direction: dict) -> str:
    arrow = {"higher": " &uarr;", "lower": " &darr;", "zero": " &rarr;0"}
    parts = ["<!doctype html><meta charset='utf-8'><title>Unlearning leaderboard</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
             "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;white-space:nowrap}th{background:#eee}"
             "td:nth-child(-n+2){text-align:left}tr.baseline{background:#f6f6ff}small{color:#777}</style>",
             "<h1>Unlearning leaderboard</h1><p>Built from results/runs/. &uarr; higher is better, &darr; lower "
             "is better, &rarr;0 closer to zero is better. Mean &plusmn; std over seeds; [95% bootstrap "
             "interval over items] for a single seed. forget_quality is a KS p-value: read it with ks_stat "
             "and ks_n.</p>"]
    shown = ["method", "seed"] + [c for c in agg.columns if c in direction or c in ("ks_stat", "ks_n")] + \
        [c for c in ("unlearn_s", "eval_s", "flops", "peak_mem_mb", "cost_vs_retrain") if c in agg.columns]
    for task, part in agg.groupby("task", sort=True):
        cols = [c for c in shown if c in ("method", "seed") or part[c].notna().any()]  # this track's columns
        parts.append(f"<h2>{html.escape(task)}</h2><table><tr>" +
                     "".join(f"<th>{c}{arrow.get(direction.get(c), '')}</th>" for c in cols) + "</tr>")
        for _, r in part.iterrows():
            cls = " class='baseline'" if r["method"] in BASELINE_ORDER else ""
            cells = []
            for c in cols:
                cell = _fmt(r.get(c))
                std = r.get(f"{c}_std")
                if std is not None and not pd.isna(std):
                    cell += f" &plusmn; {_fmt(std)}"
                ci = r.get(f"{c}_ci")
                if isinstance(ci, (list, tuple)):
                    cell += f" <small>{_fmt(ci)}</small>"
                cells.append(f"<td>{cell}</td>")
            parts.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
        parts.append("</table>")
    return "\n".join(parts) + "\n"


def build(results_dir: Path = Path("results")) -> pd.DataFrame:
    runs, direction = collect(results_dir)
    agg = aggregate(runs)
    write_text_atomic(Path(results_dir) / "leaderboard_runs.csv", runs.to_csv(index=False))
    write_text_atomic(Path(results_dir) / "leaderboard.csv", agg.to_csv(index=False))
    write_text_atomic(Path(results_dir) / "leaderboard.html", to_html(agg, direction))
    return agg
