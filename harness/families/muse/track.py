"""The document track (MUSE, Shi et al. 2024): forget whole articles (news) or book text, measured six
ways (evaluate.py). Scalability (growing forget sets) are task files over the `scal` splits;
sustainability (requests one after another) is a task with `requests:` over the `sust` splits; on a
part of the forget set the forget metrics cover the requested items alone (scope.py). What a track
offers: harness/families/__init__.py; what each metric means: docs/metrics.md.
"""
from __future__ import annotations

from harness import metric_parts as MP
from harness import models as MD
from harness import plots as P
from harness.config import ConfigError, RunConfig
from harness.data import DataError
from harness.families import Track, register_track
from harness.families.muse import data as musedata, world
from harness.families.muse.evaluate import (CURVE_METRICS, SETTINGS, SHOTS, curve, evaluate, reference)
from harness.families.muse.events import DocumentUnits, event_split
from harness.prompts import Encoded, PromptFormatter
from harness.tasks import MetricSpec
from harness.units import world_kind

SPLIT_KEYS = ("verbmem", "knowmem_forget", "knowmem_retain", "privleak_forget", "privleak_holdout")
OPTIONAL_SPLITS = ("knowmem_forget_icl", "knowmem_retain_icl", "privleak_retain")


def _m(direction: str, role: str, description: str = "", **kw) -> MetricSpec:
    return MetricSpec(direction=direction, role=role, description=description, **kw)


# privleak is not reported on a part of the forget set (forget_scope, in metrics.json, says why)
_MEMBERSHIP = MP.membership_metrics()
METRICS = {
    "verbmem": _m("lower", "forget", "VerbMem: ROUGE-L F1 of the greedy continuation of forget text vs the true "
                  "text", headline=True),
    "knowmem_forget": _m("lower", "forget", "KnowMem on forget_qa: ROUGE-L F1 of few-shot greedy answers",
                         headline=True),
    "knowmem_retain": _m("higher", "utility", "KnowMem on retain_qa: the utility kept", headline=True),
    "privleak": _MEMBERSHIP.pop("privleak"),
    **MP.memorisation_metrics(),
    "retain_exact_memorization": _m("higher", "utility", "the same on retain texts (privleak's retain split)"),
    **_MEMBERSHIP,
}


def check_task(task, where: str) -> None:
    ev = task.eval
    keys = (*SPLIT_KEYS, *OPTIONAL_SPLITS, *SETTINGS, SHOTS)
    bad = [k for k in ev if k not in keys]
    if bad:
        raise ConfigError(f"{where}: eval.{bad[0]}: unknown key for family muse (expected {', '.join(keys)})")
    missing = [k for k in SPLIT_KEYS if k not in ev]
    if missing:
        raise ConfigError(f"{where}: eval.{missing[0]} is required (a split such as "
                          f"{'verbmem/forget' if missing[0] == 'verbmem' else 'knowmem/forget_qa'})")
    for k in (*SETTINGS, SHOTS):
        if k not in SETTINGS and k not in ev:
            continue
        v, low = ev.get(k, SETTINGS.get(k)), 0 if k == SHOTS else 1
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ConfigError(f"{where}: eval.{k} must be an integer >= {low}, got {v!r}")
    refs = [ev[k] for k in (*SPLIT_KEYS, *OPTIONAL_SPLITS) if k in ev] + task.splits.forget_list + [
        task.splits.retain, task.splits.holdout, *task.splits.model_splits("target"),
        *task.splits.model_splits("retain"), *task.requests]
    for ref in refs:
        if not isinstance(ref, str):
            raise ConfigError(f"{where}: expected a split name such as raw/forget, got {ref!r}")
        try:
            musedata.split_ref(ref)
        except DataError as e:
            raise ConfigError(f"{where}: {e}") from None
    if not [s for s in task.splits.model_splits("target") if s not in task.splits.model_splits("retain")]:
        raise ConfigError(f"{where}: splits.full names no split that splits.retain_model lacks (the forget texts "
                          f"the retain model is retrained without)")
    if task.lm_eval_tasks or not isinstance(task.splits.forget, str):
        raise ConfigError(f"{where}: family muse takes one forget split (several: requests) and no lm_eval_tasks")


def load_data(task, source: str, cfg: RunConfig, needs_refusals: bool = False) -> dict:
    """Every split the run touches, validated now (a bad line is one error naming file and line); the
    holdout texts (MUSE's raw/holdout) are read to be checked, though no metric uses them. Also what the
    retain model was retrained without (the target's splits it lacks: scope.py) and the kind
    of world (the synthetic news world ties its items to events)."""
    ev, sp = task.eval, task.splits
    data = {"forget": musedata.load(source, sp.forget), "retain": musedata.load(source, sp.retain),
            "holdout": musedata.load(source, sp.holdout),
            "eval": {k: musedata.load(source, ev[k]) for k in (*SPLIT_KEYS, *OPTIONAL_SPLITS) if k in ev}}
    if task.requests:
        data["requests"] = [musedata.load(source, r) for r in task.requests]
    without = [s for s in sp.model_splits("target") if s not in sp.model_splits("retain")]
    data["retrained_without"] = [r for s in without for r in musedata.load(source, s)]
    data["world"] = world_kind(source)
    for split in ("forget", "retain"):
        n, icl = ev.get(SHOTS), f"knowmem_{split}_icl"
        if n is not None and len(data["eval"].get(icl, [])) < n:
            raise DataError(f"eval.shots is {n} but {ev.get(icl) or f'the task (no eval.{icl})'} has "
                            f"{len(data['eval'].get(icl, []))} in-context pairs")
    return data


def training_sets(fmt: PromptFormatter, data: dict):
    forget = [e for r in data["forget"] for e in musedata.chunks(fmt, r["text"])]
    retain = [e for r in data["retain"] for e in musedata.chunks(fmt, r["text"])]
    return forget, retain


def model_examples(source: str, splits: list[str], fmt: PromptFormatter, replay: bool) -> list[Encoded]:
    """The target trains on forget + retain texts, the retain model on retain texts (task splits)."""
    docs = [e for s in splits for r in musedata.load(source, s) for e in musedata.chunks(fmt, r["text"])]
    return docs + MD.replay_examples(source, fmt, replay)


def plots(rows, task: str, chance: dict) -> list[str]:
    """KnowMem on retain (utility) against VerbMem on forget, and PrivLeak against utility."""
    plt = P.pyplot()
    rows = P.complete(rows)
    out = []
    for y, label in (("verbmem", "VerbMem on forget (lower is better)"), ("privleak", "PrivLeak (0 is ideal)")):
        if {y, "knowmem_retain"} <= set(rows.columns) and rows[y].notna().any():
            fig, ax = plt.subplots(figsize=(5.6, 4.0))
            P.points(ax, rows, "knowmem_retain", y)
            if y == "privleak":
                ax.axhline(0, ls="--", color="#999", lw=1)
            ax.set_xlabel("KnowMem on retain (utility; higher is better)")
            ax.set_ylabel(label)
            ax.set_title(f"{task}: {y} vs utility", fontsize=10)
            out.append(P.svg(fig, f"{task}-{y}-"))
    return out


def selection_split(data: dict, source: str, task: str) -> tuple[dict, dict]:
    """(curve data, scored data) for a rule that chooses its step on held-out items
    (unlearn.select_on=held_out): the forget events in two halves as the relearning attack splits them
    (events.py); the curve asks the KnowMem questions of one half and, for its
    utility proxy, every other retain question; the run is scored on the other half's items (VerbMem,
    KnowMem, PrivLeak texts, against the retain model's AUC on them) and the remaining retain questions.
    Real MUSE data maps no question to an article, so it cannot be split: a one-line error."""
    sp = event_split(data, source, f"unlearn.select_on=held_out (task {task})")
    if not sp.units[1]:
        raise ConfigError(f"config key 'unlearn.select_on': task {task}'s questions are not tied to its forget "
                          f"articles, so no items can be held out for the rule: set unlearn.select_on=evaluated")
    ev, scored_ev = data["eval"], sp.probe["eval"]
    scored_ids = {r["id"] for r in scored_ev["knowmem_forget"]}
    retain = ev["knowmem_retain"]
    curve = {**data, "eval": {**ev, "knowmem_forget": [r for r in ev["knowmem_forget"] if r["id"] not in scored_ids],
                              "knowmem_retain": retain[0::2]}}
    scored = {**sp.probe, "eval": {**scored_ev, "knowmem_retain": retain[1::2]}}
    return curve, scored


@register_track("muse")
class Muse(Track):
    title = "Documents (MUSE-style): forget news articles, keep the rest"
    start = "target"                     # runs unlearn the target (trained on forget + retain texts)
    roles = ("base", "target", "retain")
    refusals = False                     # documents, not questions: refusal answers do not apply
    worlds = {"synthetic_news": world.build}
    metrics = METRICS
    robustness_metric = "knowmem_forget"  # its recovery under attack scores robustness (harness/robustness.py)
    robustness_item = ("knowmem_forget", "rouge_f1")  # its per-item value: (items.jsonl set, field)
    check_task = staticmethod(check_task)
    load_data = staticmethod(load_data)
    training_sets = staticmethod(training_sets)
    model_examples = staticmethod(model_examples)
    reference = staticmethod(reference)
    evaluate = staticmethod(evaluate)
    plots = staticmethod(plots)
    curve = staticmethod(curve)            # optional (harness/curves.py): the unlearning curve
    selection_split = staticmethod(selection_split)  # optional: held-out items for the curve's rule
    relearn_split = staticmethod(event_split)  # the forget set in two halves of whole events
    units = DocumentUnits()                    # SISA's shards: whole documents
    curve_metrics = CURVE_METRICS
    curve_utility = "knowmem_retain_prob"  # the floor of a selection rule is measured on this
    curve_forget = "knowmem_forget_prob"   # the forget metric the curve plot shows
    request_metrics = ("knowmem_forget", "knowmem_retain")  # the per-request plot (sustainability)
