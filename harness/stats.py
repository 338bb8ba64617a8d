"""Uncertainty: bootstrap 95% intervals over items for one run (seed statistics are in
leaderboard.py). Items are resampled within each set; the forget items are resampled together with
the retain model's truth ratios of the same items, so forget quality compares like with like."""
from __future__ import annotations

import numpy as np

from harness import metrics as M

CI_METRICS = ("model_utility", "forget_quality", "forget_truth_ratio", "forget_rouge", "forget_prob")


def _set_numbers(recs: list[dict], idx: np.ndarray, kind: str) -> dict:
    ratios = [recs[i]["truth_ratio"] for i in idx]
    tr = M.forget_truth_ratio_stat(ratios) if kind == "forget" else M.utility_truth_ratio_stat(ratios)
    return {"prob": float(np.mean([recs[i]["prob"] for i in idx])),
            "rouge": float(np.mean([recs[i]["rouge"] for i in idx])), "truth_ratio": tr, "ratios": ratios}


def bootstrap(records: list[dict], reference_ratios: list[float], n: int, seed: int) -> dict:
    """{metric: [2.5th, 97.5th percentile]} over n resamples of the items."""
    if n <= 0:
        return {}
    by_set: dict[str, list[dict]] = {}
    for r in records:
        by_set.setdefault(r["set"], []).append(r)
    sets = [k for k in ("forget", "retain", "real_authors", "world_facts") if k in by_set]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {m: [] for m in CI_METRICS}
    ref = np.asarray(reference_ratios)
    for _ in range(n):
        nums = {k: _set_numbers(by_set[k], rng.integers(0, len(by_set[k]), len(by_set[k])), k) for k in sets}
        fidx = rng.integers(0, len(by_set["forget"]), len(by_set["forget"]))
        f = _set_numbers(by_set["forget"], fidx, "forget")
        flat = {f"{k}_{m}": v[m] for k, v in nums.items() for m in ("prob", "rouge", "truth_ratio")}
        draws["model_utility"].append(M.model_utility(flat))
        draws["forget_quality"].append(M.forget_quality(f["ratios"], list(ref[fidx]))["forget_quality"])
        draws["forget_truth_ratio"].append(f["truth_ratio"])
        draws["forget_rouge"].append(f["rouge"])
        draws["forget_prob"].append(f["prob"])
    return {m: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for m, v in draws.items()}
