"""Every metric the fictitious-author family reports, declared once (which way is better, its role, how
seeds are aggregated, whether it is a headline column, the columns shown beside it), and the unlearning
curve's cheap numbers. Membership inference, privleak and memorisation are the parts every family with
forget texts shares (harness/metric_parts.py). Definitions: docs/metrics.md."""
from __future__ import annotations

import numpy as np

from harness import metric_parts as MP
from harness import metrics as M
from harness import models as MD
from harness.config import RunConfig
from harness.evaluate import score
from harness.families.tofu.qa import _variants
from harness.prompts import PromptFormatter
from harness.tasks import MetricSpec

KS_FEW_ITEMS = 10  # below this many forget items, forget_quality carries a warning (harness/metrics.py ks_min_pvalue)


def _m(direction: str, role: str, description: str = "", **kw) -> MetricSpec:
    return MetricSpec(direction=direction, role=role, description=description, **kw)


# direction: higher | lower | zero (closest to 0) | retain (closest to the retain model's own value,
# held in the metric named by `reference`)
_MEMBERSHIP = MP.membership_metrics()
METRICS = {
    "forget_quality": _m("higher", "forget", "KS-test p-value of forget truth ratios vs the retain model's; read "
                         "with ks_stat and ks_n", headline=True, aggregate="median", log_scale=True,
                         companions=["ks_stat", "ks_n"], needs="retain"),
    "model_utility": _m("higher", "utility", "harmonic mean of the nine utility numbers", headline=True),
    "forget_rouge": _m("lower", "forget", "ROUGE-L recall of greedy answers on the forget split", headline=True),
    "privleak": _MEMBERSHIP.pop("privleak"),
    "ks_stat": _m("lower", "forget", "KS statistic behind forget_quality (effect size)", needs="retain"),
    "forget_truth_ratio": _m("higher", "forget", "mean min(R, 1/R) on the forget split"),
    "forget_prob": _m("lower", "forget", "length-normalised P(answer) on the forget split"),
    **{f"{s}_{m}": _m("higher", "utility") for s in ("retain", "real_authors", "world_facts")
       for m in ("rouge", "prob", "truth_ratio")},
    **MP.memorisation_metrics(),
    "retain_exact_memorization": _m("higher", "utility"),
    "retain_extraction_strength": _m("higher", "utility"),
    **_MEMBERSHIP,
}

# Declared only by tasks with `eval: {real_world: builtin}` (the track's extra_metrics): a task without
# the set has no such number, and a declared metric every run leaves empty would be a column of blanks
REAL_WORLD_METRICS = {
    "real_world_accuracy": _m("higher", "utility", "share of the real-world questions the base model answers "
                              "that this model still answers (tasks with eval.real_world)", headline=True,
                              companions=["real_world_n"], needs="base"),
    "real_world_n": _m("higher", "utility", "real-world questions kept (those the base model answers correctly)"),
}

# The unlearning curve (harness/curves.py): cheap, teacher-forced, on the first n evaluation items.
# The utility proxy is retain_prob: model_utility needs generation (ROUGE), which the curve avoids.
CURVE_METRICS = {"forget_prob": "lower", "forget_truth_ratio": "higher", "retain_prob": "higher"}


def curve(model, fmt: PromptFormatter, data: dict, cfg: RunConfig, n_items: int) -> dict:
    """forget_prob and forget_truth_ratio on the first n forget evaluation items and retain_prob on the
    first n retain items, computed as the full evaluation computes them (the same variants, batches and
    formulas), without generation or the membership-inference details."""
    pad, ev = MD.pad_id(fmt.tok), data["eval"]
    forget, retain = ev["forget"][:n_items], ev["retain"][:n_items]
    seqs = [(row["question"], text) for row in forget for _, text in _variants("forget", row)]
    res = iter(score(model, fmt, seqs, cfg.eval.batch_size, pad, desc="curve", progress=False))
    probs, logs = [], []
    for row in forget:
        nll = [next(res)["nll_mean"] for _ in _variants("forget", row)]  # answer, paraphrased, wrong...
        probs.append(M.length_normalised_prob(nll[0]))
        logs.append(M.log_truth_ratio(nll[1], nll[2:]))
    kept = score(model, fmt, [(row["question"], row["answer"]) for row in retain], cfg.eval.batch_size, pad,
                 desc="curve", progress=False)
    return {"forget_prob": float(np.mean(probs)), "forget_truth_ratio": M.forget_truth_ratio_stat(logs),
            "retain_prob": float(np.mean([M.length_normalised_prob(x["nll_mean"]) for x in kept]))}
