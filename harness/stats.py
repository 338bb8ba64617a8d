"""Uncertainty: bootstrap 95% intervals over items for one run (seed statistics are in
leaderboard.py). Items are resampled within each set; the forget items are resampled together with
the retain model's truth ratios of the same items, so the KS comparison stays paired item by item.

Why no interval for forget_quality: it is a KS p-value, a statement about the two samples, not an
estimate of a quantity, and the percentiles of resampled p-values do not bracket it (a p-value of 1.0
can fall outside its own "interval"). The interval is given for the KS statistic (the effect size
behind the p-value) instead.
"""
from __future__ import annotations

import numpy as np

from harness import metrics as M

CI_METRICS = ("model_utility", "ks_stat", "forget_truth_ratio", "forget_rouge", "forget_prob")


def _set_numbers(recs: list[dict], idx: np.ndarray, kind: str) -> dict:
    logs = [recs[i]["log_truth_ratio"] for i in idx]
    tr = M.forget_truth_ratio_stat(logs) if kind == "forget" else M.utility_truth_ratio_stat(logs)
    return {"prob": float(np.mean([recs[i]["prob"] for i in idx])),
            "rouge": float(np.mean([recs[i]["rouge"] for i in idx])), "truth_ratio": tr, "log_ratios": logs}


def bootstrap(records: list[dict], reference_log_ratios: list[float], n: int, seed: int) -> dict:
    """{metric: [2.5th, 97.5th percentile]} over n resamples of the items. `reference_log_ratios`
    are the retain model's, aligned with the forget records."""
    if n <= 0:
        return {}
    by_set: dict[str, list[dict]] = {}
    for r in records:
        by_set.setdefault(r["set"], []).append(r)
    sets = [k for k in ("forget", "retain", "real_authors", "world_facts") if k in by_set]
    if len(reference_log_ratios) != len(by_set["forget"]):
        raise ValueError("bootstrap: the retain model's ratios are not aligned with the forget items")
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {m: [] for m in CI_METRICS}
    ref = np.asarray(reference_log_ratios)
    for _ in range(n):
        nums = {k: _set_numbers(by_set[k], rng.integers(0, len(by_set[k]), len(by_set[k])), k) for k in sets}
        fidx = rng.integers(0, len(by_set["forget"]), len(by_set["forget"]))
        f = _set_numbers(by_set["forget"], fidx, "forget")
        flat = {f"{k}_{m}": v[m] for k, v in nums.items() for m in ("prob", "rouge", "truth_ratio")}
        draws["model_utility"].append(M.model_utility(flat))
        draws["ks_stat"].append(M.forget_quality(f["log_ratios"], list(ref[fidx]))["ks_stat"])
        draws["forget_truth_ratio"].append(f["truth_ratio"])
        draws["forget_rouge"].append(f["rouge"])
        draws["forget_prob"].append(f["prob"])
    return {m: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for m, v in draws.items()}
