"""The fictitious-author track (TOFU, Maini et al. 2024): question-answer pairs of whole authors to
forget, the retain model (never trained on them) as the gold standard. What a track offers is
described in harness/families/__init__.py; what each metric means: docs/metrics.md."""
from __future__ import annotations

import random
import time

import numpy as np

from harness import metrics as M
from harness import models as MD
from harness import plots as P
from harness.config import ConfigError, RunConfig
from harness.data import load_refusals, load_split
from harness.families import Track, register_track
from harness.families.tofu import real_world, world
from harness.families.tofu.authors import AuthorUnits, author_split, pretend_fill, selection_split
from harness.families.tofu.metrics import CURVE_METRICS, KS_FEW_ITEMS, METRICS, REAL_WORLD_METRICS, curve
from harness.families.tofu.qa import aligned, evaluate_sets, membership_scores, tofu_metrics
from harness.families.tofu.reference import reference
from harness.families.tofu.stats import bootstrap
from harness.stats import mean_interval
from harness.io import shorten
from harness.meter import FlopMeter
from harness.prompts import PromptFormatter

EVAL_KINDS = ("forget", "retain", "real_authors", "world_facts")  # task file `eval:` kind -> split
# optional: `real_world: builtin`, the shipped real-world questions the base model answers correctly
# (harness/families/tofu/real_world.py): for a real pretrained model
OPTIONAL_KINDS = {"real_world": "builtin"}


def check_task(task, where: str) -> None:
    required = {k: v for k, v in task.eval.items() if k not in OPTIONAL_KINDS}
    if set(required) != set(EVAL_KINDS) or not all(isinstance(v, str) for v in required.values()):
        raise ConfigError(f"{where}: 'eval' must map exactly {', '.join(EVAL_KINDS)} to split names "
                          f"(and optionally real_world: builtin)")
    for kind, value in OPTIONAL_KINDS.items():
        if kind in task.eval and task.eval[kind] != value:
            raise ConfigError(f"{where}: eval.{kind} must be '{value}' (the shipped set), got {task.eval[kind]!r}")
    if not isinstance(task.splits.forget, str):
        raise ConfigError(f"{where}: splits.forget must be one split name")
    if task.lm_eval_tasks:
        raise ConfigError(f"{where}: lm_eval_tasks does not apply to family tofu")
    if not all(isinstance(s, str) for s in task.requests):
        raise ConfigError(f"{where}: requests must be a list of forget split names")


def load_data(task, source: str, cfg: RunConfig, needs_refusals: bool = False) -> dict:
    t = task
    data = {"forget": load_split(source, t.splits.forget), "retain": load_split(source, t.splits.retain)}
    data["eval"] = {kind: load_split(source, split) for kind, split in t.eval.items() if kind in EVAL_KINDS}
    if "real_world" in t.eval:  # generation only, on the subset the base model answers (reference numbers)
        data["real_world"] = real_world.questions()
    data["eval"]["holdout"] = load_split(source, t.splits.holdout)  # membership inference
    if t.requests:  # sequential unlearning requests, applied one after another
        data["requests"] = [load_split(source, s) for s in t.requests]
    else:  # what is unlearned must be what the forget metrics ask about
        _same_questions(data["forget"], data["eval"]["forget"], t.splits.forget, t.eval["forget"], task.name)
    if needs_refusals:
        data["refusals"], data["refusals_file"] = load_refusals(source, cfg.unlearn.refusals)
    return data


def _same_questions(forget: list, evaluated: list, fsplit: str, esplit: str, task: str) -> None:
    """TOFU's forget splits and their *_perturbed evaluation splits hold the same questions. A pair that
    does not (a mistyped split name, a file cut by hand) would unlearn one set and score another, and
    forget quality would still come out as a number: refused before any training."""
    a, b = {r["question"] for r in forget}, {r["question"] for r in evaluated}
    if a != b:
        odd = sorted(a - b) or sorted(b - a)
        raise ConfigError(f"task {task}: the forget split {fsplit} ({len(a)} questions) and its evaluation split "
                          f"{esplit} ({len(b)}) ask different questions ({len(a ^ b)} differ, e.g. "
                          f"{shorten(odd[0], 60)!r})")


def training_sets(fmt: PromptFormatter, data: dict):
    forget = [fmt.encode(x["question"], x["answer"]) for x in data["forget"]]
    retain = [fmt.encode(x["question"], x["answer"]) for x in data["retain"]]
    return forget, retain


def refusal_set(fmt: PromptFormatter, data: dict, seed: int):
    """One refusal answer to each forget question, drawn (seeded) from the refusal pool."""
    rng = random.Random(f"idk-{seed}")
    return [fmt.encode(x["question"], rng.choice(data["refusals"])) for x in data["forget"]]


def evaluate(model, tok, fmt: PromptFormatter, task, data: dict, ref: dict, cfg: RunConfig, progress: bool):
    """(metrics, per-item records, cost) of `model` on the task's evaluation sets."""
    t0 = time.perf_counter()
    with FlopMeter(model) as meter:
        items, agg = evaluate_sets(model, fmt, data["eval"], cfg.eval, MD.pad_id(tok), progress=progress)
        world_recs = []
        if "real_world" in data:  # the questions the base model answered correctly (reference numbers)
            kept = set(ref["real_world"]["kept"])
            world_recs, n = real_world.score(model, fmt, [r for r in data["real_world"] if r["id"] in kept],
                                             cfg.eval, MD.pad_id(tok))
            agg["_tokens"] += n
    metrics = tofu_metrics(agg, ref)
    forget_items = [i for i in items if i["set"] == "forget"]
    theirs = aligned([i["id"] for i in forget_items], ref["log_ratios"], "the retain model's truth ratios")
    for rec, lr in zip(forget_items, theirs):
        rec["retain_model_log_truth_ratio"] = lr
    for m, ci in bootstrap(items, theirs, cfg.eval.bootstrap, cfg.seed).items():
        metrics[f"{m}_ci"] = ci
    if metrics["ks_n"] < KS_FEW_ITEMS:  # legitimate (a small split), but the reader must know
        metrics["warnings"] = [f"forget_quality from {metrics['ks_n']} items: a KS p-value on so few items takes a "
                               f"few coarse values (the smallest possible is {M.ks_min_pvalue(metrics['ks_n']):.2g})"]
    if "real_world" in data:
        metrics["real_world_n"] = len(world_recs)
        metrics["real_world_accuracy"] = (sum(r["correct"] for r in world_recs) / len(world_recs)
                                          if world_recs else None)
        if world_recs and cfg.eval.bootstrap > 0:  # its own generator: the other intervals stay as they were
            metrics["real_world_accuracy_ci"] = mean_interval([float(r["correct"]) for r in world_recs],
                                                              cfg.eval.bootstrap, np.random.default_rng(cfg.seed))
        items += world_recs
    cost = {"eval_s": time.perf_counter() - t0, "tokens_eval": agg["_tokens"], "eval_flops": meter.total}
    return metrics, items, cost


def resolution_note(rows) -> list[str]:
    """What the split can resolve in forget quality: the KS p-value's floor on its n forget items (the
    two samples fully separated: harness/metrics.py ks_min_pvalue) beside the target's own value."""
    if "ks_n" not in rows or "method" not in rows:
        return []
    target = rows[(rows["method"] == "target") & rows["reference_row"].astype(bool)]
    if target.empty or "forget_quality" not in target or target[["ks_n", "forget_quality"]].iloc[0].isna().any():
        return []
    n, fq = int(target["ks_n"].iloc[0]), float(target["forget_quality"].iloc[0])
    return [f"<p class='note'>What this split resolves: forget quality is a KS p-value over {n} forget items, so "
            f"it cannot go below {M.ks_min_pvalue(n):.2g} (truth ratios fully separated from the retain model's); "
            f"the target, which never unlearned, scores {fq:.2g}.</p>"]


def plots(rows, task: str, chance: dict) -> list[str]:
    """Forget quality (log) against model utility, and against the cost relative to retraining; first,
    what the split can resolve."""
    plt = P.pyplot()
    note = resolution_note(rows)
    rows = P.complete(rows)
    out = list(note)
    if {"forget_quality", "model_utility"} <= set(rows.columns) and rows["forget_quality"].notna().any():
        fig, ax = plt.subplots(figsize=(5.6, 4.0))
        P.points(ax, rows, "model_utility", "forget_quality", floor=1e-12)
        ax.set_yscale("log")
        ax.set_xlabel("model utility (higher is better)")
        ax.set_ylabel("forget quality, KS p-value (log; higher is better)")
        ax.set_title(f"{task}: forgetting vs utility", fontsize=10)
        out.append(P.svg(fig, f"{task}-fq-"))
    if "cost_vs_retrain" in rows and rows["cost_vs_retrain"].notna().any():
        fig, ax = plt.subplots(figsize=(5.6, 4.0))
        P.points(ax, rows[~rows["reference_row"]], "cost_vs_retrain", "forget_quality", floor=1e-12)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("unlearning FLOPs / FLOPs of retraining (log; lower is cheaper)")
        ax.set_ylabel("forget quality (log)")
        ax.set_title(f"{task}: cost vs forgetting", fontsize=10)
        out.append(P.svg(fig, f"{task}-cost-"))
    return out


@register_track("tofu")
class Tofu(Track):
    title = "Fictitious authors (TOFU-style): forget whole authors, keep the rest"
    start = "target"                       # runs unlearn the target (fine-tuned on every author)
    roles = ("base", "target", "retain")
    refusals = True                        # question-answer data: IdkDPO's refusal answers apply
    qa = True                              # items are questions answered by generation (the probe attacks)
    worlds = {"synthetic": world.build}  # dataset name -> builder(cache root, profile, seed) -> folder
    metrics = METRICS
    robustness_metric = "forget_prob"  # its recovery under attack scores robustness (harness/robustness.py)
    # what the leaderboard's marks screen on (harness/eligibility.py): forgetting as forget quality reads
    # it (the truth ratios the KS test compares with the retain model's), and the utility kept
    forget_signal = "forget_truth_ratio"
    utility_metric = "model_utility"
    robustness_item = ("forget", "prob")  # its per-item value: (items.jsonl set, field)
    check_task = staticmethod(check_task)
    load_data = staticmethod(load_data)

    @staticmethod
    def extra_metrics(task) -> dict:
        """The real-world utility numbers, for a task that asks the real-world questions."""
        return dict(REAL_WORLD_METRICS) if "real_world" in task.eval else {}
    training_sets = staticmethod(training_sets)
    model_examples = staticmethod(MD.training_examples)  # what the target / retain models are fine-tuned on
    replay_questions = staticmethod(real_world.replay_questions)  # a pretrained base's replay (real_world.py)
    refusal_set = staticmethod(refusal_set)
    reference = staticmethod(reference)
    evaluate = staticmethod(evaluate)
    plots = staticmethod(plots)
    curve = staticmethod(curve)            # optional (harness/curves.py): the unlearning curve
    selection_split = staticmethod(selection_split)  # optional: held-out items for the curve's rule
    relearn_split = staticmethod(author_split)  # the forget set in two halves of whole authors
    units = AuthorUnits()                       # SISA's shards, DP's group privacy: whole authors
    pretend_instruction = ("You have never read anything about these authors: {authors}. For any question "
                           "about one of them, answer as a model that never learned about them would. Answer "
                           "all other questions normally.")  # the in-context form's pretend policy
    pretend_fill = staticmethod(pretend_fill)
    membership = staticmethod(membership_scores)  # the weights' own MIA (the in-context form's post hook)
    curve_metrics = CURVE_METRICS
    curve_utility = "retain_prob"          # the floor of a selection rule is measured on this
    curve_forget = "forget_truth_ratio"    # the forget metric the curve plot shows
    request_metrics = ("forget_quality", "model_utility")  # the per-request plot (tasks with requests)
