"""The fictitious-author family's 95% intervals over items, for one run.

Bootstrap intervals (percentile, over items) for model utility and the forget truth ratio, ROUGE and
probability: items are resampled within each set. The KS statistic gets a distribution-free interval
instead (harness/stats.py `ks_interval`, from the Dvoretzky-Kiefer-Wolfowitz inequality): resampling
with duplicates biases the resampled KS statistic upward, so its percentile interval (and the basic
one, which contains the estimate exactly when the percentile one does) can exclude its own estimate.

Why no interval for forget_quality: it is a KS p-value, a statement about the two samples, not an
estimate of a quantity, and the percentiles of resampled p-values do not bracket it (a p-value of 1.0
can fall outside its own "interval"). The interval is given for the KS statistic (the effect size
behind the p-value) instead.
"""
from __future__ import annotations

import numpy as np

from harness import metrics as M
from harness.stats import ks_interval

CI_METRICS = ("model_utility", "ks_stat", "forget_truth_ratio", "forget_rouge", "forget_prob")
BOOTSTRAPPED = ("model_utility", "forget_truth_ratio", "forget_rouge", "forget_prob")


def _columns(recs: list[dict]) -> dict[str, np.ndarray]:
    return {c: np.asarray([r[c] for r in recs], dtype=np.float64) for c in ("prob", "rouge", "log_truth_ratio")}


def _set_numbers(cols: dict[str, np.ndarray], idx: np.ndarray, kind: str) -> dict:
    logs = cols["log_truth_ratio"][idx]
    tr = M.forget_truth_ratio_stat(logs) if kind == "forget" else M.utility_truth_ratio_stat(logs)
    return {"prob": float(np.mean(cols["prob"][idx])), "rouge": float(np.mean(cols["rouge"][idx])),
            "truth_ratio": tr}


def bootstrap(records: list[dict], reference_log_ratios: list[float], n: int, seed: int) -> dict:
    """{metric: [low, high]}, 95%: for each of CI_METRICS. n = 0 gives none. `reference_log_ratios`
    are the retain model's, aligned with the forget records.

    ks_stat: ks_interval of the forget items' KS statistic against the retain model's ratios. The
    others: the 2.5th-97.5th percentiles over n resamples of the items. Each resample draws, in this
    order, one index vector per set (forget, retain, real_authors, world_facts: the utility sets feed
    model_utility) and then the forget indices used for the forget numbers. The numbers of a resample
    are the metric functions' own formulas on gathered arrays (model utility through M.harmonic_mean,
    as model_utility itself), so an interval can be recomputed from the items and the seed."""
    if n <= 0:
        return {}
    by_set: dict[str, list[dict]] = {}
    for r in records:
        by_set.setdefault(r["set"], []).append(r)
    sets = [k for k in ("forget", "retain", "real_authors", "world_facts") if k in by_set]
    if len(reference_log_ratios) != len(by_set["forget"]):
        raise ValueError("bootstrap: the retain model's ratios are not aligned with the forget items")
    cols = {k: _columns(by_set[k]) for k in sets}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {m: [] for m in BOOTSTRAPPED}
    n_forget = len(by_set["forget"])
    for _ in range(n):
        nums = {k: _set_numbers(cols[k], rng.integers(0, len(by_set[k]), len(by_set[k])), k) for k in sets}
        f = _set_numbers(cols["forget"], rng.integers(0, n_forget, n_forget), "forget")
        if not all(s in nums for s, _ in M.UTILITY_PAIRS):
            raise ValueError("bootstrap: model_utility needs the retain, real_authors and world_facts items")
        draws["model_utility"].append(M.harmonic_mean(np.asarray([nums[s][m] for s, m in M.UTILITY_PAIRS])))
        draws["forget_truth_ratio"].append(f["truth_ratio"])
        draws["forget_rouge"].append(f["rouge"])
        draws["forget_prob"].append(f["prob"])
    d = M.ks_statistic(cols["forget"]["log_truth_ratio"], reference_log_ratios)
    out = {m: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for m, v in draws.items()}
    out["ks_stat"] = ks_interval(d, n_forget, n_forget)
    return {m: out[m] for m in CI_METRICS}  # the order metrics.json has always listed them in
