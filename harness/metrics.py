"""The metric formulas as pure functions, each checked against hand-computed values in
tests/test_metrics.py. Definitions and papers: docs/metrics.md.

Inputs are mean token NLLs (NLL_mean = NLL_sum / |y|) so every formula can be checked by hand.
P~(y|x) = exp(-NLL_mean) is the length-normalised probability.

Everything that divides probabilities is computed in log space: a collapsed model (NLLs in the
hundreds or thousands) must get its extreme numbers, not an overflow, a division by zero or a NaN.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import stats
from scipy.special import logsumexp

LOG_MAX = 709.0  # exp(x) overflows a float64 above about 709.78


def length_normalised_prob(nll_mean: float) -> float:
    return math.exp(-nll_mean)  # underflows gracefully to 0.0 for a collapsed model


def normalised_option_prob(nll_right: float, nll_wrong: list[float]) -> float:
    """P~(a) / (P~(a) + sum_j P~(a_j)) over options (real-authors, world-facts), as a softmax of the
    negative NLLs, so it stays defined when every P~ underflows."""
    logits = -np.asarray([nll_right, *nll_wrong], dtype=np.float64)
    return float(math.exp(logits[0] - logsumexp(logits)))


def log_truth_ratio(nll_right: float, nll_wrong: list[float]) -> float:
    """log R, R = P~_wrong / P~_right with P~_wrong the geometric mean over the wrong answers:
    log R = NLL_mean(right) - mean_j NLL_mean(wrong_j)."""
    if not nll_wrong:
        raise ValueError("truth_ratio: no perturbed answers")
    return float(nll_right - np.mean(nll_wrong))


def truth_ratio(nll_right: float, nll_wrong: list[float]) -> float | None:
    """R itself, or None where it is beyond a float (use the log for anything computed from it)."""
    lr = log_truth_ratio(nll_right, nll_wrong)
    return math.exp(lr) if abs(lr) <= LOG_MAX else None


def forget_truth_ratio_stat(log_ratios: list[float]) -> float:
    """Forget split: mean(min(R, 1/R)) = mean(exp(-|log R|)); 1 means right and wrong answers are
    equally likely."""
    return float(np.mean(np.exp(-np.abs(np.asarray(log_ratios, dtype=np.float64)))))


def utility_truth_ratio_stat(log_ratios: list[float]) -> float:
    """Retain/real-authors/world-facts: mean(max(0, 1 - R)); 1 means the right answer dominates.
    max(0, 1 - R) is 0 for log R >= 0 and -expm1(log R) below, so R is never formed."""
    lr = np.asarray(log_ratios, dtype=np.float64)
    return float(np.mean(np.where(lr >= 0, 0.0, -np.expm1(np.minimum(lr, 0.0)))))


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l_recall(prediction: str, reference: str) -> float:
    """ROUGE-L recall of a generation against the reference answer (rouge_score, stemming on)."""
    return float(_scorer().score(reference, prediction)["rougeL"].recall)


def rouge_l_f1(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (MUSE's VerbMem and KnowMem): the longest common subsequence L of the two token
    sequences, P = L/|prediction|, R = L/|reference|, F1 = 2PR/(P+R); 0 when either is empty."""
    return float(_scorer().score(reference, prediction)["rougeL"].fmeasure)


def forget_quality(unlearned: list[float], retain: list[float]) -> dict:
    """Two-sample KS test between per-item truth ratios of the unlearned and the retain model on the
    same forget split. The p-value depends on n, so the statistic and n are reported beside it.
    Given log truth ratios: the KS statistic depends only on the order of the values, so the test on
    log R is the test on R (and cannot overflow)."""
    if not unlearned or not retain:
        raise ValueError("forget_quality: empty truth-ratio list (is the retain model's evaluation missing?)")
    res = stats.ks_2samp(unlearned, retain)
    return {"forget_quality": float(res.pvalue), "ks_stat": float(res.statistic),
            "ks_n": len(unlearned), "ks_n_retain": len(retain)}


def ks_min_pvalue(n: int) -> float:
    """The smallest p-value the exact two-sided two-sample KS test can give with n items on each side:
    the statistic's largest value (1, the samples fully separated) happens in 2 of the C(2n, n) equally
    likely orderings, so p >= 2 / C(2n, n) (n = 2: 1/3; n = 5: 0.0079; n = 10: 1.1e-5)."""
    return min(1.0, 2.0 / math.comb(2 * n, n))


def ks_statistic(a, b) -> float:
    """The two-sample KS statistic alone: max over x of |F_a(x) - F_b(x)|, the empirical CDFs taken
    at every sample point, in integer counts and given as h / lcm(n_a, n_b), the exact fraction
    scipy's ks_2samp reports (bit for bit) without its costly exact p-value (the bootstrap needs a
    thousand of them)."""
    a, b = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    both = np.concatenate([a, b])
    n_a, n_b = len(a), len(b)
    diff = np.searchsorted(a, both, side="right") * n_b - np.searchsorted(b, both, side="right") * n_a
    g = math.gcd(n_a, n_b)
    return int(np.max(np.abs(diff))) // g * 1.0 / (n_a // g * n_b)


UTILITY_PAIRS = [(s, m) for s in ("retain", "real_authors", "world_facts") for m in ("prob", "rouge", "truth_ratio")]
UTILITY_PARTS = [f"{s}_{m}" for s, m in UTILITY_PAIRS]


def model_utility(values: dict[str, float]) -> float:
    """Harmonic mean of the nine utility numbers; any zero makes it zero (as scipy's hmean)."""
    missing = [k for k in UTILITY_PARTS if values.get(k) is None]
    if missing:
        raise ValueError(f"model_utility: missing {missing}")
    return harmonic_mean(np.asarray([float(values[k]) for k in UTILITY_PARTS]))


def harmonic_mean(xs: np.ndarray) -> float:
    """1 / mean(1 / x), scipy's hmean formula without its per-call overhead (the bootstrap takes a
    thousand); 0 when any value is 0 or below."""
    return 0.0 if xs.min() <= 0.0 else float(1.0 / np.mean(1.0 / xs))


# ---- Memorisation and membership inference (MUSE, Shi et al. 2024; Min-K%++, Zhang et al. 2024) ----

def exact_memorization(match: list[bool]) -> float:
    """Share of answer positions where the teacher-forced argmax equals the answer token."""
    if not match:
        raise ValueError("exact_memorization: empty answer")
    return sum(bool(m) for m in match) / len(match)


def extraction_strength(match: list[bool]) -> float:
    """1 - k*/|y|, k* the smallest k such that the argmax matches y_t at every t >= k."""
    if not match:
        raise ValueError("extraction_strength: empty answer")
    k = len(match)
    while k > 0 and match[k - 1]:
        k -= 1
    return 1.0 - k / len(match)


def min_k_mean(values: list[float], k: float, rounding: str = "ceil") -> float:
    """Mean of the lowest ceil(k * n) values (at least one). rounding="floor" takes int(k * n) (the
    float product truncated), as MUSE's privleak code does (Shi et al. 2024, metrics/privleak.py), still
    at least one."""
    if rounding not in ("ceil", "floor"):
        raise ValueError(f"min_k_mean: rounding must be 'ceil' or 'floor', got {rounding!r}")
    n = math.ceil(k * len(values) - 1e-9) if rounding == "ceil" else int(k * len(values))
    return float(np.mean(sorted(values)[:max(1, n)]))


# Orientation, stated once: every attack score is loss-like, HIGHER = LESS likely a member.
# AUC = P(score(forget item) > score(holdout item)) with forget as label 1 (roc_auc_score). A model
# that memorised the forget set gives forget items low scores: AUC near 0, privleak near -100. A model
# that never saw them (the retain model) gives about 0.5.
MIA_ATTACKS = ("loss", "zlib", "min_k", "min_k_pp")


def mia_scores(logps: list[float], z: list[float], text: str, k: float = 0.4, rounding: str = "ceil") -> dict:
    """LOSS = NLL_mean; zlib = NLL_mean / len(zlib(text)); Min-K% = -mean of the lowest k% token
    log-probs; Min-K%++ = -mean of the lowest k% z-scores (z from the model's own distribution);
    `rounding` as in min_k_mean."""
    import zlib
    nll = -float(np.mean(logps))
    return {"loss": nll, "zlib": nll / len(zlib.compress(text.encode("utf-8"))),
            "min_k": -min_k_mean(logps, k, rounding), "min_k_pp": -min_k_mean(z, k, rounding)}


def mia_auc(member_scores: list[float], nonmember_scores: list[float]) -> float:
    from sklearn.metrics import roc_auc_score
    if not member_scores or not nonmember_scores:
        raise ValueError("mia_auc: needs forget and holdout scores (is the holdout split missing?)")
    labels = [1] * len(member_scores) + [0] * len(nonmember_scores)
    return float(roc_auc_score(labels, list(member_scores) + list(nonmember_scores)))


def privleak_diff(auc_unlearned: float, auc_retain: float) -> float:
    """(AUC_unlearned - AUC_retain) * 100: privleak's difference without the division, bounded in
    [-100, 100], so a retain model whose own AUC is far from 0.5 cannot blow it up."""
    return (auc_unlearned - auc_retain) * 100.0


def privleak(auc_unlearned: float, auc_retain: float) -> float:
    """(AUC_unlearned - AUC_retain) / AUC_retain * 100: about 0 is ideal, -100 a memorised forget set."""
    if auc_retain <= 0:
        raise ValueError("privleak: the retain model's AUC is 0; the ratio is undefined")
    return (auc_unlearned - auc_retain) / auc_retain * 100.0
