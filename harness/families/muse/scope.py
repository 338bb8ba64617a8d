"""Which forget items a MUSE-style evaluation scores, and whether PrivLeak has its reference
(MUSE, Shi et al. 2024: scalability and sustainability).

PrivLeak and the membership-inference AUCs are read against the retain model, which was retrained
without every text the target saw and the retain model did not (the task's target splits minus its
retain-model splits). That reference is the right one only when the model was asked to forget exactly
those texts: a task whose forget split is the whole forget set, or a sustainability run after its last
request when its requests together are the forget set. Otherwise (a scalability task forgets a part of
the forget set; a sustainability run after an earlier request):
- on the synthetic news world the forget-side metrics (VerbMem, KnowMem on the forget questions, the
  memorisation numbers of privleak's forget texts) are measured on the items of the requested events
  alone, events identified as the relearning attacks identify them (events.py:
  the towns of the requested reports' datelines, named as whole words), and PrivLeak and the MIA AUCs
  are not reported: the model retrained without exactly the requested events is not built;
- on real MUSE data, whose questions are not tied to articles, only utility is reported (MUSE reads
  scalability and sustainability as the utility kept).
The metrics then carry `forget_scope`, one line saying what was scored and what is not reported.
"""
from __future__ import annotations

from harness.families.muse import events as N
from harness.units import namer

FORGET_SIDE = N.PROBED  # the eval splits that ask about forget events
AUC_ONLY = ("privleak_holdout",)  # scored for the membership-inference AUCs alone


def requested(data: dict) -> list[dict]:
    """The forget rows the evaluated model was asked to forget: the task's forget split, or with
    sequential requests those done so far (data['requests_done'], set by harness/unlearning.py when it
    evaluates after an earlier request; every request otherwise)."""
    if data.get("requests"):
        done = data.get("requests_done", len(data["requests"]))
        return [r for rows in data["requests"][:done] for r in rows]
    return data["forget"]


def scope(data: dict) -> dict | None:
    """None when every metric applies (the requested texts are exactly what the retain model was
    retrained without). Otherwise {'eval': the eval splits to score, 'note': the forget_scope line}:
    the forget-side splits limited to the requested events' items (synthetic news world) or dropped
    (real data), and the splits scored for the AUCs alone dropped."""
    asked, unseen = requested(data), data["retrained_without"]
    if {r["text"] for r in asked} == {r["text"] for r in unseen}:
        return None
    ev = {k: v for k, v in data["eval"].items() if k not in AUC_ONLY}
    if data.get("world") != "news":
        ev = {k: v for k, v in ev.items() if k not in FORGET_SIDE}
        return {"eval": ev, "note": f"utility only: {len(asked)} of the {len(unseen)} forget texts requested, and "
                                    f"real MUSE data does not tie questions to articles; forget metrics, privleak "
                                    f"and mia_auc_* not reported"}
    towns = N.towns(unseen)
    mine = set(N.towns(asked))
    named = namer(towns, upper=True)
    for k in FORGET_SIDE:  # an item belongs to the events it names; every one of them must be requested
        ev[k] = [r for r in ev[k] if (found := named(N.item_text(r))) and found <= mine]
    counts = ", ".join(f"{k} {len(ev[k])}" for k in FORGET_SIDE)
    return {"eval": ev, "note": f"the {len(mine)} requested events of {len(towns)} ({counts} items); privleak and "
                                f"mia_auc_* not reported: the retain model was retrained without all {len(towns)} "
                                f"forget events, not exactly the requested ones"}
