"""A replicated study's statistics, from its run folders alone (docs/statistics.md):

    results/significance_ranks.csv   per (task, headline metric, method): its mean over world and run
                                     seeds with a 95% hierarchical-bootstrap interval, its rank
                                     distribution (mean and 95% interval), the world seed's share of
                                     its variance
    results/significance_pairs.csv   per (task, headline metric, pair of methods): the paired advantage
                                     of A over B, its interval, P(A better), and whether it holds after
                                     Holm's correction over the task's pairs for that metric

Only method rows are compared (a model evaluated as is, the target or retain row, is a reference, not a
contestant). Values are read from each run's metrics.json; seeds from its config.yaml (world.seed and
seed); directions and headline flags from its task.yaml, so the study can be recomputed from its
folders with the bootstrap seed the docs name (harness/replication.py BOOTSTRAP_SEED).
"""
from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import yaml

from harness import replication as R

RANK_COLUMNS = ["track", "task", "metric", "method", "n", "n_worlds", "mean", "ci_low", "ci_high", "rank_mean",
                "rank_low", "rank_high", "world_var", "run_var", "world_share"]
PAIR_COLUMNS = ["track", "task", "metric", "method_a", "method_b", "n_pairs", "mean_diff", "ci_low", "ci_high",
                "p_a_better", "p_value", "p_holm", "significant"]


def read_runs(folders: list[Path]) -> list[dict]:
    """Per complete method run: task, family, method label, world seed, run seed, metrics, specs."""
    from harness.leaderboard import row_label
    out = []
    for f in folders:
        status = json.loads((f / "status.json").read_text())
        cfg = yaml.safe_load((f / "config.yaml").read_text())
        if status.get("status") != "complete" or cfg["method"] == "none":
            continue
        task = yaml.safe_load((f / "task.yaml").read_text())
        out.append({"task": cfg["task"], "family": task["family"], "method": row_label(cfg, task["family"]),
                    "world": int(cfg["world"]["seed"]), "run": int(cfg["seed"]),
                    "metrics": json.loads((f / "metrics.json").read_text()), "specs": task.get("metrics") or {},
                    "folder": f.name})
    return out


def _tables(runs: list[dict], metric: str, spec: dict) -> tuple[dict, dict]:
    """({method: {(world, run): value}}, the same with goodness) for one task's metric."""
    raw, good = {}, {}
    for r in runs:
        v = r["metrics"].get(metric)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
            continue
        ideal = r["metrics"].get(spec.get("reference") or "") if spec.get("direction") == "retain" else None
        raw.setdefault(r["method"], {})[(r["world"], r["run"])] = float(v)
        good.setdefault(r["method"], {})[(r["world"], r["run"])] = R.goodness(float(v), spec["direction"], ideal)
    return raw, good


def study(runs: list[dict], n: int = R.N_BOOTSTRAP, seed: int = R.BOOTSTRAP_SEED) -> tuple[list[dict], list[dict]]:
    """(rank rows, pair rows) over every task and headline metric of `runs`."""
    ranks, pairs = [], []
    for task in sorted({r["task"] for r in runs}):
        mine = [r for r in runs if r["task"] == task]
        specs, family = mine[0]["specs"], mine[0]["family"]
        for metric, spec in specs.items():
            if not spec.get("headline"):
                continue
            raw, good = _tables(mine, metric, spec)
            if len(raw) < 1:
                continue
            ranks += _ranks(family, task, metric, raw, good, n, seed)
            pairs += _pairs(family, task, metric, good, n, seed)
    return ranks, pairs


def _ranks(family, task, metric, raw: dict, good: dict, n: int, seed: int) -> list[dict]:
    cr, cg = R.Cells.of(raw), R.Cells.of(good)
    est, d_raw, d_good = R.estimate(cr.values), R.draws(cr, n, seed), R.draws(cg, n, seed)
    rk = R.ranks(np.nan_to_num(d_good, nan=-np.inf))   # a method absent from a draw ranks last in it
    out = []
    for i, m in enumerate(cr.methods):
        lo, hi = R.percentile_interval(d_raw[:, i])
        wv, rv, share = R.variance_share(cr.values[i])
        n_cells = int(np.sum(~np.isnan(cr.values[i])))
        n_worlds = int(np.sum(~np.all(np.isnan(cr.values[i]), axis=1)))
        out.append({"track": family, "task": task, "metric": metric, "method": m, "n": n_cells, "n_worlds": n_worlds,
                    "mean": float(est[i]), "ci_low": lo, "ci_high": hi, "rank_mean": float(rk[:, i].mean()),
                    "rank_low": float(np.percentile(rk[:, i], 2.5)), "rank_high": float(np.percentile(rk[:, i], 97.5)),
                    "world_var": wv, "run_var": rv, "world_share": share})
    return out


def _pairs(family, task, metric, good: dict, n: int, seed: int) -> list[dict]:
    """Every pair of methods, paired by (world, run) cells both have; A is the one with the higher
    estimated goodness, so mean_diff >= 0 and p_a_better >= 0.5 read as "how sure that A is better"."""
    est = {m: R.estimate(R.Cells.of({m: cells}).values)[0] for m, cells in good.items()}
    out = []
    for a, b in itertools.combinations(sorted(good), 2):
        if est[b] > est[a]:
            a, b = b, a
        shared = sorted(set(good[a]) & set(good[b]))
        if not shared:
            continue
        diff = R.Cells.of({"d": {c: good[a][c] - good[b][c] for c in shared}})
        d = R.draws(diff, n, seed)[:, 0]
        lo, hi = R.percentile_interval(d)
        above, below = float(np.mean(d > 0)), float(np.mean(d < 0))
        ties = 1.0 - above - below
        out.append({"track": family, "task": task, "metric": metric, "method_a": a, "method_b": b,
                    "n_pairs": len(shared), "mean_diff": float(R.estimate(diff.values)[0]), "ci_low": lo,
                    "ci_high": hi, "p_a_better": above + ties / 2,
                    "p_value": min(1.0, 2 * min(above + ties, below + ties))})
    adjusted = R.holm([p["p_value"] for p in out])
    for p, q in zip(out, adjusted):
        p["p_holm"], p["significant"] = q, bool(q < R.ALPHA)
    return out


def replication_of(runs: list[dict]) -> dict:
    """{task: (world seeds, run seeds per world)} of the runs, for the too-small-to-say check."""
    out = {}
    for r in runs:
        out.setdefault(r["task"], {}).setdefault(r["world"], set()).add(r["run"])
    return out


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    from harness.io import write_text_atomic
    import io
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    write_text_atomic(path, buf.getvalue())


def command(files: list[str], overrides: list[str]) -> int:
    """`python -m harness significance <grid files> [key=value ...]`: the statistics of a study grid's
    runs, which must be complete (`grid` computes them). Writes results/significance_{runs,ranks,pairs}.csv
    in the grid's results folder. A task replicated over fewer than two worlds gets no interval: one
    line says so, and its per-run numbers are still written."""
    from harness import grid
    from harness.config import ConfigError
    from harness.progress import say
    from harness.runs import is_complete, resolve
    configs = [g.cfg for f in files for g in grid.grid_runs(f, overrides)]
    dirs = sorted({c.results_dir for c in configs})
    if len(dirs) > 1:
        raise ConfigError(f"the study writes to several results folders {dirs}: give one results_dir")
    seen, method_runs = set(), []
    for r in (resolve(c) for c in configs):
        if r.run_id not in seen and (r.method is not None or r.form is not None):
            seen.add(r.run_id)
            method_runs.append(r)
    missing = [r for r in method_runs if not is_complete(r.folder)]
    if missing:
        raise ConfigError(f"{len(missing)} of the study's {len(method_runs)} runs are not complete (e.g. "
                          f"{missing[0].run_id}): run `python -m harness grid {' '.join(files)}` first")
    results = Path(dirs[0])
    recs = read_runs([r.folder for r in method_runs])
    per_run = [{"task": r["task"], "method": r["method"], "world_seed": r["world"], "seed": r["run"],
                "metric": m, "value": r["metrics"].get(m), "run_id": r["folder"]}
               for r in recs for m, s in r["specs"].items() if s.get("headline")]
    write_csv(results / "significance_runs.csv", per_run,
              ["task", "method", "world_seed", "seed", "metric", "value", "run_id"])
    small = []
    for task, worlds in sorted(replication_of(recs).items()):
        if len(worlds) < 2:
            small.append(task)
            n_runs = max(len(s) for s in worlds.values())
            say(f"significance: {task} has {len(worlds)} world seed and {n_runs} run seed(s): too few to compute an "
                f"interval (replicate over world_seeds); its per-run numbers are in {results / 'significance_runs.csv'}")
    ranks, pairs = study([r for r in recs if r["task"] not in small])
    write_csv(results / "significance_ranks.csv", ranks, RANK_COLUMNS)
    write_csv(results / "significance_pairs.csv", pairs, PAIR_COLUMNS)
    for task in sorted({p["task"] for p in pairs}):
        for metric in sorted({p["metric"] for p in pairs if p["task"] == task}):
            mine = [p for p in pairs if p["task"] == task and p["metric"] == metric]
            say(f"significance: {task} {metric}: {sum(p['significant'] for p in mine)} of {len(mine)} method pairs "
                f"differ after Holm's correction")
    say(f"significance: {len(recs)} runs -> {results / 'significance_ranks.csv'}, significance_pairs.csv")
    return 0
