"""How sure is a ranking? Statistics over replicated runs: each method measured in several worlds (a
world seed draws the synthetic world and trains its target and retain models) and several run seeds
per world (the unlearning's own randomness). Pure functions of numbers; docs/statistics.md states
every formula, and the seed the bootstrap draws from, so each interval can be recomputed.

The unit of resampling is the world, then the run within a world (a hierarchical bootstrap): worlds
are the larger source of variation, and treating the runs of one world as independent would make the
intervals too narrow (Lanyon et al. 2025). One draw resamples the worlds with replacement and, within
each drawn world, its run seeds with replacement; every method is evaluated on the same draw, so
comparisons and ranks are paired. A method's estimate is the mean over worlds of its mean over runs
(each world weighs the same, whatever its number of runs).

Goodness. To compare and rank, each value is oriented so that higher is better: `higher` as is,
`lower` negated, `zero` (ideal 0: privleak) as -|x|, `retain` (ideal: the retain model's value in the
same run, e.g. a membership AUC) as -|x - x_retain|.
"""
from __future__ import annotations

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


def estimate(v: np.ndarray) -> np.ndarray:
    """Mean over worlds of the mean over runs, along the last two axes (NaN cells left out)."""
    with np.errstate(invalid="ignore"), _quiet():
        return np.nanmean(np.nanmean(v, axis=-1), axis=-1)


class _quiet:
    """numpy warns on an all-NaN mean (a method absent from a drawn world); the NaN is the answer."""
    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


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
            with _quiet():
                per_world.append(np.nanmean(v[:, w, pick], axis=1))  # [method]
        with _quiet():
            out[b] = np.nanmean(np.stack(per_world, axis=1), axis=1)
    return out


def percentile_interval(x: np.ndarray, alpha: float = ALPHA) -> tuple[float, float]:
    x = x[~np.isnan(x)]
    return float(np.percentile(x, 100 * alpha / 2)), float(np.percentile(x, 100 * (1 - alpha / 2)))


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
