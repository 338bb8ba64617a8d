"""TOFU metric formulas as pure functions (../shared/REFERENCE.md section 1).

Inputs are mean token NLLs (NLL_mean = NLL_sum / |y|) so every formula can be checked by hand.
P~(y|x) = exp(-NLL_mean) is the length-normalised probability.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import stats


def length_normalised_prob(nll_mean: float) -> float:
    return math.exp(-nll_mean)


def normalised_option_prob(nll_right: float, nll_wrong: list[float]) -> float:
    """P~(a) / (P~(a) + sum_j P~(a_j)): probability over options (real-authors, world-facts)."""
    right = math.exp(-nll_right)
    return right / (right + sum(math.exp(-w) for w in nll_wrong))


def truth_ratio(nll_right: float, nll_wrong: list[float]) -> float:
    """R = P~_wrong / P~_right with P~_wrong the geometric mean over the wrong answers:
    exp(-mean_j NLL_mean(wrong_j)) / exp(-NLL_mean(right))."""
    if not nll_wrong:
        raise ValueError("truth_ratio: no perturbed answers")
    return math.exp(nll_right - float(np.mean(nll_wrong)))


def forget_truth_ratio_stat(ratios: list[float]) -> float:
    """Forget split: mean(min(R, 1/R)); 1 means right and wrong answers are equally likely."""
    return float(np.mean([min(r, 1.0 / r) for r in ratios]))


def utility_truth_ratio_stat(ratios: list[float]) -> float:
    """Retain/real-authors/world-facts: mean(max(0, 1 - R)); 1 means the right answer dominates."""
    return float(np.mean([max(0.0, 1.0 - r) for r in ratios]))


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l_recall(prediction: str, reference: str) -> float:
    """ROUGE-L recall of a generation against the reference answer (rouge_score, stemming on)."""
    return float(_scorer().score(reference, prediction)["rougeL"].recall)


def forget_quality(unlearned_ratios: list[float], retain_ratios: list[float]) -> dict:
    """Two-sample KS test between per-item truth ratios of the unlearned and the retain model on the
    same forget split. The p-value depends on n, so the statistic and n are reported beside it."""
    if not unlearned_ratios or not retain_ratios:
        raise ValueError("forget_quality: empty truth-ratio list (is the retain model's evaluation missing?)")
    res = stats.ks_2samp(unlearned_ratios, retain_ratios)
    return {"forget_quality": float(res.pvalue), "ks_stat": float(res.statistic),
            "ks_n": len(unlearned_ratios), "ks_n_retain": len(retain_ratios)}


UTILITY_PARTS = [f"{s}_{m}" for s in ("retain", "real_authors", "world_facts")
                 for m in ("prob", "rouge", "truth_ratio")]


def model_utility(values: dict[str, float]) -> float:
    """Harmonic mean of the nine utility numbers; any zero makes it zero (as scipy's hmean)."""
    missing = [k for k in UTILITY_PARTS if values.get(k) is None]
    if missing:
        raise ValueError(f"model_utility: missing {missing}")
    xs = [float(values[k]) for k in UTILITY_PARTS]
    if min(xs) <= 0.0:
        return 0.0
    return float(stats.hmean(xs))
