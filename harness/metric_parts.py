"""Metrics shared by every family whose forget set has texts (answers, documents) to score against
held-out ones: declared here once, each with what it depends on (MetricSpec.needs: whose numbers
besides the evaluated model's), and computed by one function each. A family adds a part to its
METRICS and calls its function; it never declares these numbers itself.

- membership: membership inference (LOSS, zlib, Min-K%, Min-K%++; Shi et al. 2024, Zhang et al.
  2024) as an AUC of forget (members) against holdout (non-members) items, and privleak (MUSE, Shi et
  al. 2025), the Min-K% AUC relative to the retain model's. Needs the retain model's AUCs on the same
  items: the family's cached reference numbers hold them as `auc` ({attack: AUC}).
- memorisation: exact memorisation (Tirumala et al. 2022) and extraction strength (Carlini et al.
  2021 as MUSE defines it), on the forget items' scored tokens. Needs nothing beyond the model.

Formulas: harness/metrics.py; definitions in words: docs/metrics.md.
"""
from __future__ import annotations

from harness import metrics as M
from harness.tasks import MetricSpec

def membership_metrics() -> dict[str, MetricSpec]:
    """privleak (a headline number) and one AUC per attack, each read against the retain model's own
    (direction `retain`: the ideal is what a model that never saw the forget items scores)."""
    out = {"privleak": MetricSpec("zero", "forget", "(AUC - AUC_retain) / AUC_retain x 100, Min-K%, forget vs "
                                  "holdout; ~0 ideal, -100 memorised, > 0 over-unlearned", headline=True,
                                  needs="retain", companions=["privleak_diff"])}
    out["privleak_diff"] = MetricSpec("zero", "forget", "(AUC - AUC_retain) x 100, Min-K%: privleak without the "
                                      "ratio, bounded in [-100, 100]; ~0 ideal", needs="retain")
    for a in M.MIA_ATTACKS:
        out[f"mia_auc_{a}"] = MetricSpec("retain", "forget", f"{a} attack AUC, forget vs holdout items; ~0 "
                                         f"memorised; ideal: the retain model's", reference=f"retain_model_mia_auc_{a}",
                                         needs="retain")
    return out


def memorisation_metrics() -> dict[str, MetricSpec]:
    return {"exact_memorization": MetricSpec("lower", "forget", "share of the forget items' scored tokens that are "
                                             "the teacher-forced argmax"),
            "extraction_strength": MetricSpec("lower", "forget", "1 - k*/|x| on the forget items (the shortest "
                                              "prefix k* after which the rest is the greedy argmax)")}


def aucs(forget: list[dict], holdout: list[dict]) -> dict[str, float]:
    """AUC per attack from per-item attack scores ({attack: score}), forget items as members (label 1);
    the orientation is stated once, in harness/metrics.py."""
    return {a: M.mia_auc([f[a] for f in forget], [h[a] for h in holdout]) for a in M.MIA_ATTACKS}


def membership(forget: list[dict], holdout: list[dict], reference_auc: dict) -> dict:
    """mia_auc_<attack>, the retain model's beside each (retain_model_mia_auc_<attack>), and privleak.
    A missing reference fails here, never a silent None."""
    return from_aucs(aucs(forget, holdout), reference_auc)


def from_aucs(own: dict, reference_auc: dict) -> dict:
    """The membership part's numbers from the AUCs ({attack: AUC}) and the retain model's."""
    if not reference_auc:
        raise RuntimeError("privleak needs the retain model's membership-inference AUCs on these items, and "
                           "they are missing")
    out = {}
    for a, auc in own.items():
        out[f"mia_auc_{a}"] = auc
        out[f"retain_model_mia_auc_{a}"] = reference_auc[a]
    # A retain model whose own AUC is 0 (every forget item scored as more member-like than every holdout
    # item: it happens by chance with one forget author against two held out) leaves the ratio undefined:
    # privleak is then missing, not a failed run, and privleak_diff still compares the two AUCs.
    ref = reference_auc["min_k"]
    out["privleak"] = M.privleak(out["mia_auc_min_k"], ref) if ref > 0 else None
    out["privleak_diff"] = M.privleak_diff(out["mia_auc_min_k"], ref)
    return out


def memorisation(records: list[dict]) -> dict:
    """exact_memorization and extraction_strength of the forget items: the means of their per-item values."""
    import numpy as np
    return {m: float(np.mean([r[m] for r in records])) for m in ("exact_memorization", "extraction_strength")}
