"""Intervals that do not depend on a family: a distribution-free interval for a KS distance (from the
Dvoretzky-Kiefer-Wolfowitz inequality), and the percentile bootstrap of a mean over items. The
families' own intervals (harness/families/*/) are built from these; seed statistics are in
leaderboard.py.
"""
from __future__ import annotations

import math

import numpy as np


def dkw_epsilon(n: int, alpha: float) -> float:
    """The DKW bound with Massart's constant (Dvoretzky, Kiefer & Wolfowitz 1956; Massart 1990):
    P(sup_x |F_n(x) - F(x)| > eps) <= 2 exp(-2 n eps^2) for the empirical CDF F_n of n i.i.d. draws
    from any F, so eps = sqrt(ln(2 / alpha) / (2 n)) holds with probability >= 1 - alpha."""
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def ks_interval(d: float, n: int, m: int, alpha: float = 0.05) -> list[float]:
    """A 1 - alpha interval for the population KS distance D = sup_x |F(x) - G(x)| given the sample
    statistic d of n and m draws. By the triangle inequality |d - D| <= sup|F_n - F| + sup|G_m - G|;
    each term is bounded by DKW at alpha / 2 (a union bound, valid whatever the dependence between the
    two samples: here they are the same items scored by two models). It always contains d."""
    half = dkw_epsilon(n, alpha / 2) + dkw_epsilon(m, alpha / 2)
    return [max(0.0, d - half), min(1.0, d + half)]


def mean_interval(values, n: int, rng) -> list[float]:
    """The 95% percentile bootstrap interval of the mean of `values`: n resamples with replacement,
    drawn from `rng` (a numpy Generator) in one (n, len) matrix."""
    v = np.asarray(values, dtype=np.float64)
    means = v[rng.integers(0, len(v), (n, len(v)))].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]
