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
    wins, losses = _wins(pairs, task)
    n_worlds = rows[0]["n_worlds"] if rows else "?"
    out = [f"| method | mean rank ({n_worlds} worlds) | 95% rank interval | significantly better than | worse than |",
           "|---|---|---|---|---|"]
    for r in rows:
        m = r["method"]
        out.append(f"| {m} | {float(r['mean']):.1f} | {int(float(r['rank_low']))}-{int(float(r['rank_high']))} | {wins[m]} | {losses[m]} |")
    return "\n".join(out)


def _wins(pairs: list[dict], task: str) -> tuple[dict, dict]:
    """How many methods each method is significantly better / worse than on the summary score."""
    wins, losses = defaultdict(int), defaultdict(int)
    for p in pairs:
        if p["task"] == task and p["metric"] == SUMMARY and p["significant"] == "True":
            wins[p["method_a"]] += 1   # A is always the estimated better one
            losses[p["method_b"]] += 1
    return wins, losses


def side_by_side(ranks: list[dict], tasks: list[str], pairs: list[dict] = ()) -> str:
    """One row per method: on each task its summary score (mean rank), 95% rank interval and how many
    methods it is significantly ahead of / behind (Holm); methods in the order of their mean rank over
    the tasks."""
    got = {(r["task"], r["method"]): r for r in ranks if r["metric"] == SUMMARY and r["task"] in tasks}
    wl = {t: _wins(list(pairs), t) for t in tasks}
    methods = sorted({m for _, m in got}, key=lambda m: sum(float(got[(t, m)]["mean"]) for t in tasks if (t, m) in got))
    out = ["| method | " + " | ".join(f"{t}: mean rank, 95% rank interval, ahead of / behind" for t in tasks) + " |",
           "|---|" + "---|" * len(tasks)]
    for m in methods:
        cells = [f"{float(got[(t, m)]['mean']):.1f}, {int(float(got[(t, m)]['rank_low']))}-"
                 f"{int(float(got[(t, m)]['rank_high']))}, {wl[t][0][m]} / {wl[t][1][m]}"
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
        print(f"### Summary score side by side\n\n{side_by_side(ranks, tofu, pairs)}\n")
    for task in sorted({r["task"] for r in ranks}):
        print(f"### {task}: summary score\n\n{summary_table(ranks, pairs, task)}\n")
    print(f"### Pairs that differ\n\n{pair_counts(pairs)}")


if __name__ == "__main__":
    main()
