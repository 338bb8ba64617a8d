"""The leaderboard: a pure function of results/runs/. Nothing else is read.

Each run folder carries its resolved config, its task file (metric directions and roles), metrics,
compute record and status, so the tables can be rebuilt at any time from the folders alone.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import yaml

from harness.io import write_text_atomic

COLUMNS = ["task", "method", "model", "seed", "status", "forget_quality", "ks_stat", "ks_n",
           "model_utility", "forget_truth_ratio", "forget_rouge", "forget_prob", "retain_rouge",
           "retain_prob", "retain_truth_ratio", "real_authors_rouge", "real_authors_prob",
           "real_authors_truth_ratio", "world_facts_rouge", "world_facts_prob", "world_facts_truth_ratio",
           "unlearn_s", "eval_s", "steps", "tokens", "lr", "epochs", "run_id"]
BASELINE_ORDER = {"target": 0, "retain": 1}


def _row(folder: Path) -> dict | None:
    if not (folder / "status.json").exists():
        return None  # incomplete or in progress: not a result
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    compute = json.loads((folder / "compute.json").read_text())
    status = json.loads((folder / "status.json").read_text())
    model = cfg["model"]
    row = {"task": cfg["task"], "method": cfg["method"] if cfg["method"] != "none" else cfg["start"],
           "model": model["target"] or model["base"], "seed": cfg["seed"], "status": status["status"],
           "unlearn_s": compute.get("unlearn_s"), "eval_s": compute.get("eval_s"),
           "steps": compute.get("steps"), "tokens": compute.get("tokens_forward"),
           "lr": cfg["unlearn"]["lr"], "epochs": cfg["unlearn"]["epochs"], "run_id": folder.name}
    if cfg.get("adapter", {}).get("kind", "none") != "none":
        row["method"] += "+" + cfg["adapter"]["kind"]
    if cfg["method"] != "none" and cfg["start"] != "target":
        row["method"] += f" (from {cfg['start']})"
    row.update({k: v for k, v in metrics.items() if k in COLUMNS})
    return row


def collect(results_dir: Path) -> pd.DataFrame:
    runs = Path(results_dir) / "runs"
    rows = [r for f in sorted(runs.glob("*")) if f.is_dir() and not f.name.startswith(".")
            for r in [_row(f)] if r]
    df = pd.DataFrame(rows, columns=COLUMNS)
    if df.empty:
        return df
    df["_o"] = df["method"].map(lambda m: BASELINE_ORDER.get(m, 2))
    return df.sort_values(["task", "_o", "method", "seed"]).drop(columns="_o").reset_index(drop=True)


def _directions(results_dir: Path) -> dict:
    """metric -> 'higher'/'lower', from the task files stored in the run folders."""
    out = {}
    for f in sorted((Path(results_dir) / "runs").glob("*/task.yaml")):
        for name, spec in (yaml.safe_load(f.read_text()).get("metrics") or {}).items():
            out[name] = spec.get("direction", "higher")
    return out


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.3g}" if (abs(v) < 1e-3 and v != 0) else f"{v:.3f}"
    return html.escape(str(v))


def to_html(df: pd.DataFrame, directions: dict) -> str:
    arrow = {"higher": " &uarr;", "lower": " &darr;"}
    parts = ["<!doctype html><meta charset='utf-8'><title>Unlearning leaderboard</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
             "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#eee}"
             "td:nth-child(-n+3){text-align:left}tr.baseline{background:#f6f6ff}</style>",
             "<h1>Unlearning leaderboard</h1><p>Built from results/runs/. &uarr; higher is better, "
             "&darr; lower is better. forget_quality is a KS p-value: read it with ks_stat and ks_n.</p>"]
    cols = [c for c in COLUMNS if c not in ("task", "run_id")]
    for task, part in df.groupby("task", sort=True):
        parts.append(f"<h2>{html.escape(task)}</h2><table><tr>" +
                     "".join(f"<th>{c}{arrow.get(directions.get(c), '')}</th>" for c in cols) + "</tr>")
        for _, r in part.iterrows():
            cls = " class='baseline'" if r["method"] in BASELINE_ORDER else ""
            parts.append(f"<tr{cls}>" + "".join(f"<td>{_fmt(r[c])}</td>" for c in cols) + "</tr>")
        parts.append("</table>")
    return "\n".join(parts) + "\n"


def build(results_dir: Path = Path("results")) -> pd.DataFrame:
    df = collect(results_dir)
    write_text_atomic(Path(results_dir) / "leaderboard.csv", df.to_csv(index=False))
    write_text_atomic(Path(results_dir) / "leaderboard.html", to_html(df, _directions(results_dir)))
    return df
