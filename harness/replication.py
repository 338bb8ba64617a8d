"""How sure is a ranking? Statistics over replicated runs: each method measured in several worlds (a
world seed draws the synthetic world and trains its target and retain models) and several run seeds
per world (the unlearning's own randomness). Pure functions of numbers; docs/statistics.md states
every formula, so each number can be recomputed.

The world is the unit. Runs of one world share its data and models, so they are not independent
observations (Lanyon et al. 2025: varying only the unlearning seed misstates the spread): a method's
estimate is the mean over worlds of its mean over runs, and intervals and tests use the world means
as the observations, with Student's t and W - 1 degrees of freedom (below). A hierarchical bootstrap
(worlds, then runs within a world) is kept for one descriptive number, the mean rank over resamples;
with few worlds it is too sure of itself to give p-values (see below).

Goodness. To compare and rank, each value is oriented so that higher is better: `higher` as is,
`lower` negated, `zero` (ideal 0: privleak) as -|x|, `retain` (ideal: the retain model's value in the
same run, e.g. a membership AUC) as -|x - x_retain|.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_SEED = 0   # the seed every interval of a study is drawn with (docs/statistics.md)
N_BOOTSTRAP = 2000
ALPHA = 0.05


def goodness(value: float, direction: str, ideal: float | None = None) -> float:
    """The value oriented so that higher is better (module docstring)."""
    if direction == "higher":
        return value
    if direction == "lower":
        return -value
    if direction == "zero":
        return -abs(value)
    if direction == "retain":
        if ideal is None:
            raise ValueError("direction retain needs the retain model's value (ideal)")
        return -abs(value - ideal)
    raise ValueError(f"unknown direction {direction!r}")


@dataclass
class Cells:
    """One metric's values: array [method, world, run] (NaN where a method lacks a run), with the
    methods', worlds' and runs' labels."""
    methods: list
    worlds: list
    runs: list
    values: np.ndarray

    @classmethod
    def of(cls, table: dict) -> "Cells":
        """From {method: {(world seed, run seed): value}}."""
        methods = sorted(table)
        worlds = sorted({w for cells in table.values() for w, _ in cells})
        runs = sorted({r for cells in table.values() for _, r in cells})
        v = np.full((len(methods), len(worlds), len(runs)), np.nan)
        for i, m in enumerate(methods):
            for (w, r), x in table[m].items():
                v[i, worlds.index(w), runs.index(r)] = x
        return cls(methods, worlds, runs, v)


def tables(runs: list[dict], metric: str, spec: dict) -> tuple[dict, dict]:
    """({method: {(world, run): value}}, the same as goodness) of one metric over per-run records
    ({"method", "world", "run", "metrics"}); non-numbers and non-finite values are left out."""
    raw, good = {}, {}
    for r in runs:
        v = r["metrics"].get(metric)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
            continue
        ideal = r["metrics"].get(spec.get("reference") or "") if spec.get("direction") == "retain" else None
        raw.setdefault(r["method"], {})[(r["world"], r["run"])] = float(v)
        good.setdefault(r["method"], {})[(r["world"], r["run"])] = goodness(float(v), spec["direction"], ideal)
    return raw, good


def estimate(v: np.ndarray) -> np.ndarray:
    """Mean over worlds of the mean over runs, along the last two axes (NaN cells left out)."""
    with quiet():
        return np.nanmean(np.nanmean(v, axis=-1), axis=-1)


@contextmanager
def quiet():
    """numpy warns on an all-NaN mean (a method absent from a drawn world); the NaN is the answer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def draws(cells: Cells, n: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """[n, method] estimates over n hierarchical resamples (module docstring). Run seeds are drawn
    among the runs that world holds (any method), so a world with fewer runs is resampled within what
    it has."""
    rng = np.random.default_rng(seed)
    v = cells.values
    n_w = v.shape[1]
    have = ~np.all(np.isnan(v), axis=0)                       # [world, run]: a run some method has
    out = np.empty((n, v.shape[0]))
    for b in range(n):
        ws = rng.integers(0, n_w, n_w)
        per_world = []
        for w in ws:
            runs = np.flatnonzero(have[w])
            pick = runs[rng.integers(0, len(runs), len(runs))]
            with quiet():
                per_world.append(np.nanmean(v[:, w, pick], axis=1))  # [method]
        with quiet():
            out[b] = np.nanmean(np.stack(per_world, axis=1), axis=1)
    return out


def ranks(est: np.ndarray) -> np.ndarray:
    """Ranks (1 = best) of goodness estimates along the last axis; ties share the mean of their ranks."""
    from scipy.stats import rankdata
    return rankdata(-est, method="average", axis=-1)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (Holm 1979): the i-th smallest of m multiplied by (m - i + 1),
    made monotone, capped at 1. Controls the family-wise error over the pairs compared."""
    m = len(pvalues)
    order = np.argsort(pvalues, kind="stable")
    adj, running = [0.0] * m, 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * pvalues[j]))
        adj[j] = running
    return adj


def variance_share(v: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """(world variance, run variance, world's share of their sum) of one method's [world, run] values,
    by the one-way random-effects ANOVA estimator: the within-world mean square is the run variance;
    the between-world variance is (MS_between - MS_within) / r (r: runs per world, their mean when
    unbalanced), floored at 0. None where it cannot be computed (one world, or one run per world)."""
    rows = [r[~np.isnan(r)] for r in v]
    rows = [r for r in rows if len(r)]
    k = len(rows)
    if k < 2 or all(len(r) < 2 for r in rows):
        return None, None, None
    n = sum(len(r) for r in rows)
    grand = np.concatenate(rows).mean()
    ms_within = sum(((r - r.mean()) ** 2).sum() for r in rows) / (n - k)
    ms_between = sum(len(r) * (r.mean() - grand) ** 2 for r in rows) / (k - 1)
    r_bar = n / k
    world = max(0.0, (ms_between - ms_within) / r_bar)
    total = world + ms_within
    return float(world), float(ms_within), (float(world / total) if total > 0 else None)


# --- inference with the world as the unit ---------------------------------------------------------
# With a handful of worlds the bootstrap above is far too sure of itself: when every world shows A above
# B, every resample does too, and its p-value is 0 whatever the spread (on the default study, 5 worlds,
# it called 43 of 66 forget-quality pairs significant after Holm where a t-test over the worlds finds
# none). Intervals and tests therefore treat each world's mean (over its runs) as one observation and
# use Student's t with W - 1 degrees of freedom; the bootstrap is kept for the descriptive mean rank.


def world_means(v: np.ndarray) -> np.ndarray:
    """One method's (or one difference's) [world, run] values -> the mean of each world that has runs."""
    with quiet():
        m = np.nanmean(v, axis=-1)
    return m[~np.isnan(m)]


def t_interval(x: np.ndarray, alpha: float = ALPHA) -> tuple[float | None, float | None]:
    """mean ± t_{1-alpha/2, n-1} · s / sqrt(n) of the world means; None below two worlds."""
    from scipy.stats import t
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return None, None
    half = t.ppf(1 - alpha / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def paired_t(d: np.ndarray) -> tuple[float, float]:
    """(two-sided p-value, P(the mean difference > 0)) of world-level differences d (A - B in goodness):
    Student's one-sample t-test of mean 0 with n - 1 degrees of freedom, and the t distribution's
    probability that the true mean is above 0 (the posterior of a normal mean under a flat prior). A
    difference identical in every world has no spread: p = 0 (or 1 if it is 0)."""
    from scipy.stats import t
    d = np.asarray(d, dtype=np.float64)
    n, mean = len(d), float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    if sd <= 1e-12 * max(1.0, abs(mean)):
        return (1.0, 0.5) if mean == 0 else (0.0, 1.0 if mean > 0 else 0.0)
    stat = mean / (sd / np.sqrt(n))
    return float(2 * t.sf(abs(stat), n - 1)), float(t.cdf(stat, n - 1))


def rank_intervals(methods: list, better: set) -> dict:
    """Simultaneous rank intervals from pairwise verdicts (Klein, Wright & Wieczorek 2020): a method
    ranks no better than 1 + the methods significantly better than it, and no worse than M - the
    methods significantly worse. `better`: the (winner, loser) pairs significant after Holm."""
    m = len(methods)
    return {x: (1 + sum((o, x) in better for o in methods), m - sum((x, o) in better for o in methods))
            for x in methods}
