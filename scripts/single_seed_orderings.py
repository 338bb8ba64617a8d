"""Which orderings of a single-seed leaderboard survive replication? Reads a study's
results/significance_runs.csv and significance_pairs.csv (python -m harness significance) and, per
task and headline metric, compares the order of every pair of methods in one world and run seed (by
default world 0, seed 0: what make leaderboard shows) with the replicated verdict:

    kept      the replicated study finds the same order, significant after Holm's correction
    unresolved the study cannot tell the two apart (not significant)
    reversed  the study finds the opposite order, significant

    python scripts/single_seed_orderings.py [results] [--world 0] [--seed 0]
"""
from __future__ import annotations

import argparse
import csv
import itertools
from collections import Counter
from pathlib import Path

from harness.replication import goodness
from harness.tasks import get_task


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="?", default="results")
    ap.add_argument("--world", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ns = ap.parse_args()
    res = Path(ns.results)
    one: dict = {}
    for r in csv.DictReader((res / "significance_runs.csv").open()):
        if int(r["world_seed"]) == ns.world and int(r["seed"]) == ns.seed and r["value"] not in ("", None):
            one.setdefault((r["task"], r["metric"]), {})[r["method"]] = float(r["value"])
    verdict = {(p["task"], p["metric"], p["method_a"], p["method_b"]): p["significant"] == "True"
               for p in csv.DictReader((res / "significance_pairs.csv").open())}
    for (task, metric), values in sorted(one.items()):
        spec = get_task(task).metrics[metric]
        if spec.direction == "retain":
            continue  # needs the retain model's value per run: not in the per-run CSV
        g = {m: goodness(v, spec.direction) for m, v in values.items()}
        counts, reversed_ = Counter(), []
        for a, b in itertools.combinations(sorted(g), 2):
            if g[a] == g[b]:
                continue
            hi, lo = (a, b) if g[a] > g[b] else (b, a)       # the single-seed order: hi above lo
            if (task, metric, hi, lo) in verdict:
                counts["kept" if verdict[(task, metric, hi, lo)] else "unresolved"] += 1
            elif (task, metric, lo, hi) in verdict:
                sig = verdict[(task, metric, lo, hi)]
                counts["reversed" if sig else "unresolved"] += 1
                if sig:
                    reversed_.append(f"{hi} > {lo}")
        total = sum(counts.values())
        print(f"{task} {metric}: {total} ordered pairs at world {ns.world}, seed {ns.seed}: "
              f"{counts['kept']} kept, {counts['unresolved']} unresolved, {counts['reversed']} reversed"
              + (f" ({'; '.join(reversed_)})" if reversed_ else ""))


if __name__ == "__main__":
    main()
