"""What a replicated study can resolve: the smallest difference between two methods it detects, from
the variance its own runs show (docs/statistics.md, "What the study can resolve").

For one pair of methods, the per-run differences d (paired by world and run seed) vary between worlds
(variance s_w^2) and between runs within a world (s_r^2), estimated as harness/replication.py
variance_share does. The mean difference over W worlds and R runs per world then has the standard
error SE = sqrt(s_w^2 / W + s_r^2 / (W R)), and the smallest true difference detected with power 1 - beta
by the study's two-sided t-test on the world means at level alpha / m (Bonferroni over the m pairs,
which Holm's procedure never needs more than) is about MDD = (t_{1 - alpha/(2m)} + t_{1 - beta}) SE, with
Student's t on W - 1 degrees of freedom. Per task and metric the median over the pairs' variance
components is used: a typical pair.
"""
from __future__ import annotations

import itertools
from statistics import NormalDist

import numpy as np

from harness import replication as R


def pair_components(recs: list[dict], metric: str, spec: dict) -> list[tuple[float, float]]:
    """(world variance, run variance) of the paired goodness differences of every pair of methods."""
    _, good = R.tables(recs, metric, spec)
    out = []
    for a, b in itertools.combinations(sorted(good), 2):
        shared = sorted(set(good[a]) & set(good[b]))
        cells = R.Cells.of({"d": {c: good[a][c] - good[b][c] for c in shared}})
        wv, rv, _ = R.variance_share(cells.values[0])
        if wv is not None:
            out.append((wv, rv))
    return out


def mdd(world_var: float, run_var: float, worlds: int, runs: int, pairs: int, alpha: float = R.ALPHA,
        power: float = 0.8) -> float:
    """The minimum detectable difference (module docstring), with Student's t quantiles on W - 1
    degrees of freedom, as the study's tests use them (the normal's for W = 1, where nothing is tested)."""
    from scipy.stats import t
    q = (lambda p: t.ppf(p, worlds - 1)) if worlds > 1 else NormalDist().inv_cdf
    se = np.sqrt(world_var / worlds + run_var / (worlds * runs))
    return float((q(1 - alpha / (2 * max(1, pairs))) + q(power)) * se)


DESIGNS = ((3, 1), (3, 2), (5, 1), (5, 2), (8, 2), (10, 2))  # (worlds, runs per world) the power table prices


def table(recs_by_task: dict, designs=DESIGNS) -> list[dict]:
    """Per task and headline metric, the typical pair's variance components and the MDD of each design
    (worlds, runs per world)."""
    out = []
    for task, recs in recs_by_task.items():
        specs = recs[0]["specs"]
        n_methods = len({r["method"] for r in recs})
        m = n_methods * (n_methods - 1) // 2
        for metric, spec in specs.items():
            if not spec.get("headline"):
                continue
            comps = pair_components(recs, metric, spec)
            if not comps:
                continue
            wv, rv = float(np.median([c[0] for c in comps])), float(np.median([c[1] for c in comps]))
            row = {"task": task, "metric": metric, "pairs": m, "world_var": wv, "run_var": rv,
                   "world_share": wv / (wv + rv) if wv + rv > 0 else None}
            for w, r in designs:
                row[f"mdd_w{w}_r{r}"] = mdd(wv, rv, w, r, m)
            out.append(row)
    return out
