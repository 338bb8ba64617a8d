"""Which metrics can you trust? The meta-evaluation of open-unlearning (Dorna et al. 2025, "OpenUnlearning:
Accelerating LLM Unlearning via Unified Benchmarking of Methods and Metrics", NeurIPS, section 4), computed
from run folders.

Every forget-side metric m a task declares is first *oriented* so that a higher value means "the model
holds more of the forget knowledge", from its declared direction:

    lower  (forget_rouge, forget_prob, ...)     k = m
    higher (forget_quality, forget_truth_ratio) k = -m
    zero   (privleak: 0 = like the retain model) k = |m|
    retain (mia_auc_*: the retain model's value, the metric named by `reference`, is ideal)
                                                k = |m - m_reference|

- **Faithfulness** = AUC-ROC of k separating a pool P of models that hold the forget knowledge from a pool
  N that never saw it: P(k_P > k_N) + 0.5 P(k_P = k_N) over all pairs (the Mann-Whitney statistic). Its
  95% interval: the 2.5th and 97.5th percentiles over `n_boot` resamples of the models, P and N each
  resampled with replacement (numpy default_rng(seed)).
- **Filter before robustness**: the threshold t on k that best separates P from N (the largest accuracy
  of "k >= t means knows" over the midpoints between the pooled values; the lowest such t on a tie). An
  unlearned model whose k is still >= t removed nothing this metric can see and is left out of the
  metric's robustness, as are models below UTILITY_SHARE of the target's utility.
- **Relearning**: R = min( (k_ret_after - k_ret_before) / (k_unl_after - k_unl_before), 1 ) per unlearned
  model, averaged; the retain model under the same attack is the reference. A change of the unlearned
  model <= 0 (the attack brought nothing back) gives R = 1.
- **Quantisation**: Q = min( knowledge before / knowledge after, 1 ) per unlearned model, averaged: on k
  where k >= 0 (directions lower, zero, retain), and on the raw metric inverted, min( m_after / m_before,
  1 ), for a metric that reads knowledge downwards (direction higher: forget_quality, truth ratio).
- **Robustness** = HM(R, Q); **overall** = HM(faithfulness, robustness). HM(a, b) = 2ab / (a + b), 0 when
  both are 0.
"""
from __future__ import annotations

import math

import numpy as np

UTILITY_SHARE = 0.8   # unlearned models below this share of the target's utility do not count (the paper's)
MIN_POOL = 4          # fewer models on a side cannot give an interval worth the name
EPS = 1e-9


def oriented(value: float, direction: str, reference: float | None = None) -> float | None:
    """k: the metric turned so that higher means more forget knowledge (None when it cannot be)."""
    if not _num(value):
        return None
    if direction == "lower":
        return float(value)
    if direction == "higher":
        return -float(value)
    if direction == "zero":
        return abs(float(value))
    if direction == "retain":
        return abs(float(value) - float(reference)) if _num(reference) else None
    return None


def oriented_of(metrics: dict, name: str, spec) -> float | None:
    """k of metric `name` in a run's metrics.json (spec: its MetricSpec: direction, reference)."""
    ref = metrics.get(spec.reference) if getattr(spec, "reference", "") else None
    return oriented(metrics.get(name), spec.direction, ref)


def auc(pos: list[float], neg: list[float]) -> float:
    """P(a positive's k > a negative's) + 0.5 P(tie): the area under the ROC curve."""
    p, n = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    gt = (p[:, None] > n[None, :]).sum()
    eq = (p[:, None] == n[None, :]).sum()
    return float((gt + 0.5 * eq) / (len(p) * len(n)))


def auc_interval(pos: list[float], neg: list[float], n_boot: int, seed: int) -> list[float]:
    """The 95% percentile bootstrap interval of auc(): P and N resampled separately, with replacement."""
    p, n = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = [auc(p[rng.integers(0, len(p), len(p))], n[rng.integers(0, len(n), len(n))]) for _ in range(n_boot)]
    return [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))]


def threshold(pos: list[float], neg: list[float]) -> float:
    """The t for which "k >= t: knows" classifies P and N most accurately (candidates: the midpoints
    between consecutive distinct pooled values, and one above the largest; the lowest best t)."""
    vals = sorted(set(pos) | set(neg))
    cands = [(a + b) / 2 for a, b in zip(vals, vals[1:])] + [vals[-1] + 1.0, vals[0] - 1.0]
    best, best_t = -1.0, None
    for t in sorted(cands):
        acc = (sum(k >= t for k in pos) + sum(k < t for k in neg)) / (len(pos) + len(neg))
        if acc > best:
            best, best_t = acc, t
    return float(best_t)


def relearn_stability(unl_before: float, unl_after: float, ret_before: float, ret_after: float) -> float:
    """R = min(Δ_retain / Δ_unlearned, 1) on oriented values; 1 when the unlearned model gained nothing."""
    d_unl, d_ret = unl_after - unl_before, ret_after - ret_before
    if d_unl <= EPS:
        return 1.0
    return float(min(max(d_ret, 0.0) / d_unl, 1.0))


def quant_stability(before: float, after: float, direction: str) -> float:
    """Q = min(knowledge before / knowledge after, 1), the paper's ratio, on oriented k. k >= 0 reads
    knowledge upwards (lower, zero, retain): Q = min(k_before / k_after, 1). k = -m for a metric that reads
    it downwards (higher: forget_quality, truth ratio, values >= 0): Q = min(m_after / m_before, 1).
    EPS keeps 0 / 0 at 1."""
    if direction == "higher":
        return float(min((-after + EPS) / (-before + EPS), 1.0))
    return float(min((before + EPS) / (after + EPS), 1.0))


def hm(a: float | None, b: float | None) -> float | None:
    if not (_num(a) and _num(b)):
        return None
    return 0.0 if a + b <= 0 else 2 * a * b / (a + b)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
