"""Markdown tables of a replicated study, for the README and docs/statistics.md, generated from the
CSVs `python -m harness significance` writes (so no number in them is typed by hand).

- per task: every method's summary score (its mean rank over the headline metrics, per world) with
  the 95% simultaneous rank interval, and how many of the other methods it beats or loses to after
  Holm's correction, on the summary score and on each headline metric;
- per task and metric: how many pairs differ after Holm's correction, of how many.

    python scripts/significance_tables.py [results]
"""
from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

SUMMARY = "summary_mean_rank"


def _read(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


def summary_table(ranks: list[dict], pairs: list[dict], task: str) -> str:
    rows = sorted((r for r in ranks if r["task"] == task and r["metric"] == SUMMARY), key=lambda r: float(r["mean"]))
    wins, losses = defaultdict(int), defaultdict(int)
    for p in pairs:
        if p["task"] == task and p["metric"] == SUMMARY and p["significant"] == "True":
            better, worse = p["method_a"], p["method_b"]  # A is always the estimated better one
            wins[better] += 1
            losses[worse] += 1
    n_worlds = rows[0]["n_worlds"] if rows else "?"
    out = [f"| method | mean rank ({n_worlds} worlds) | 95% rank interval | significantly better than | worse than |",
           "|---|---|---|---|---|"]
    for r in rows:
        m = r["method"]
        out.append(f"| {m} | {float(r['mean']):.1f} | {int(float(r['rank_low']))}-{int(float(r['rank_high']))} | {wins[m]} | {losses[m]} |")
    return "\n".join(out)


def side_by_side(ranks: list[dict], tasks: list[str]) -> str:
    """One row per method: its summary score (mean rank) and 95% rank interval on each task, methods in
    the order of their mean rank over the tasks."""
    got = {(r["task"], r["method"]): r for r in ranks if r["metric"] == SUMMARY and r["task"] in tasks}
    methods = sorted({m for _, m in got}, key=lambda m: sum(float(got[(t, m)]["mean"]) for t in tasks if (t, m) in got))
    out = ["| method | " + " | ".join(f"{t}: mean rank, 95% rank interval" for t in tasks) + " |",
           "|---|" + "---|" * len(tasks)]
    for m in methods:
        cells = [f"{float(got[(t, m)]['mean']):.1f}, {int(float(got[(t, m)]['rank_low']))}-{int(float(got[(t, m)]['rank_high']))}"
                 if (t, m) in got else "–" for t in tasks]
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def pair_counts(pairs: list[dict]) -> str:
    n, sig = defaultdict(int), defaultdict(int)
    for p in pairs:
        n[(p["task"], p["metric"])] += 1
        sig[(p["task"], p["metric"])] += p["significant"] == "True"
    out = ["| task | metric | pairs that differ (Holm, 0.05) |", "|---|---|---|"]
    for k in sorted(n):
        out.append(f"| {k[0]} | {k[1]} | {sig[k]} of {n[k]} |")
    return "\n".join(out)


def main() -> None:
    res = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
    ranks, pairs = _read(res / "significance_ranks.csv"), _read(res / "significance_pairs.csv")
    tofu = sorted(t for t in {r["task"] for r in ranks} if t.startswith("tofu_"))
    if tofu:
        print(f"### Summary score side by side\n\n{side_by_side(ranks, tofu)}\n")
    for task in sorted({r["task"] for r in ranks}):
        print(f"### {task}: summary score\n\n{summary_table(ranks, pairs, task)}\n")
    print(f"### Pairs that differ\n\n{pair_counts(pairs)}")


if __name__ == "__main__":
    main()
