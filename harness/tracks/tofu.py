"""The fictitious-author track (TOFU, Maini et al. 2024): question-answer pairs of whole authors to
forget, the retain model (never trained on them) as the gold standard. The interface every track
offers is described in harness/tracks/__init__.py; definitions of the metrics: docs/metrics.md."""
from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from harness import metrics as M
from harness import models as MD
from harness import plots as P
from harness.claim import build_once
from harness.config import ConfigError, RunConfig, to_dict
from harness.data import load_refusals, load_split
from harness.evaluate import _variants, aligned, evaluate_sets, mia_aucs, score, tofu_metrics
from harness.fingerprint import model_fingerprint, precision_key
from harness.io import read_jsonl, shorten, stable_hash, write_json_atomic
from harness.meter import FlopMeter
from harness.prompts import PromptFormatter
from harness.stats import bootstrap
from harness.tasks import MetricSpec
from harness.forms._authors import author_blocks, author_name, items_per_author
from harness.tracks import Track, register_track
from harness.units import Split, Unit
from harness.worlds import authors

REFERENCE_VERSION = 3     # bump when the evaluator changes what a cached reference number would be
EVAL_KINDS = ("forget", "retain", "real_authors", "world_facts")  # task file `eval:` kind -> split
KS_FEW_ITEMS = 10  # below this many forget items, forget_quality carries a warning (harness/metrics.py ks_min_pvalue)


def _m(direction: str, role: str, description: str = "", **kw) -> MetricSpec:
    return MetricSpec(direction=direction, role=role, description=description, **kw)


# Every metric this track computes, declared once: which way is better (higher | lower | zero: closest
# to 0 | retain: closest to the retain model's own value, held in `reference`), its role, how seeds
# are aggregated, whether it is a headline column, and the columns shown beside it.
METRICS = {
    "forget_quality": _m("higher", "forget", "KS-test p-value of forget truth ratios vs the retain model's; read "
                         "with ks_stat and ks_n", headline=True, aggregate="median", log_scale=True,
                         companions=["ks_stat", "ks_n"]),
    "model_utility": _m("higher", "utility", "harmonic mean of the nine utility numbers", headline=True),
    "forget_rouge": _m("lower", "forget", "ROUGE-L recall of greedy answers on the forget split", headline=True),
    "privleak": _m("zero", "forget", "(AUC - AUC_retain) / AUC_retain x 100, Min-K%; ~0 ideal, -100 memorised",
                   headline=True),
    "ks_stat": _m("lower", "forget", "KS statistic behind forget_quality (effect size)"),
    "forget_truth_ratio": _m("higher", "forget", "mean min(R, 1/R) on the forget split"),
    "forget_prob": _m("lower", "forget", "length-normalised P(answer) on the forget split"),
    **{f"{s}_{m}": _m("higher", "utility") for s in ("retain", "real_authors", "world_facts")
       for m in ("rouge", "prob", "truth_ratio")},
    "exact_memorization": _m("lower", "forget", "share of forget answer tokens that are the teacher-forced argmax"),
    "extraction_strength": _m("lower", "forget", "1 - k*/|y| on forget answers (MUSE)"),
    "retain_exact_memorization": _m("higher", "utility"),
    "retain_extraction_strength": _m("higher", "utility"),
    "mia_auc_loss": _m("retain", "forget", "AUC forget vs holdout, LOSS attack; ~0 memorised; ideal: the retain "
                       "model's", reference="retain_model_mia_auc_loss"),
    "mia_auc_zlib": _m("retain", "forget", "zlib attack", reference="retain_model_mia_auc_zlib"),
    "mia_auc_min_k": _m("retain", "forget", "Min-K% attack (k = eval.min_k)", reference="retain_model_mia_auc_min_k"),
    "mia_auc_min_k_pp": _m("retain", "forget", "Min-K%++ attack", reference="retain_model_mia_auc_min_k_pp"),
}


def check_task(task, where: str) -> None:
    if set(task.eval) != set(EVAL_KINDS) or not all(isinstance(v, str) for v in task.eval.values()):
        raise ConfigError(f"{where}: 'eval' must map exactly {', '.join(EVAL_KINDS)} to split names")
    if not isinstance(task.splits.forget, str):
        raise ConfigError(f"{where}: splits.forget must be one split name")
    if task.lm_eval_tasks:
        raise ConfigError(f"{where}: lm_eval_tasks does not apply to family tofu")
    if not all(isinstance(s, str) for s in task.requests):
        raise ConfigError(f"{where}: requests must be a list of forget split names")


def load_data(task, source: str, cfg: RunConfig, needs_refusals: bool = False) -> dict:
    t = task
    data = {"forget": load_split(source, t.splits.forget), "retain": load_split(source, t.splits.retain)}
    data["eval"] = {kind: load_split(source, split) for kind, split in t.eval.items()}
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
    import random
    rng = random.Random(f"idk-{seed}")
    return [fmt.encode(x["question"], rng.choice(data["refusals"])) for x in data["forget"]]


def reference_key(retain_ref: str, data: dict, cfg: RunConfig, context: tuple = ()) -> str:
    forget, holdout = data["eval"]["forget"], data["eval"]["holdout"]
    body = {"v": REFERENCE_VERSION, "retain": retain_ref, "weights": model_fingerprint(retain_ref),
            "precision": precision_key(cfg), "eval": to_dict(cfg.eval),
            "items": [(r["id"], r["question"], r["answer"], r["paraphrased_answer"], r["perturbed_answer"])
                      for r in forget],
            "holdout": [(r["id"], r["question"], r["answer"]) for r in holdout]}
    if context:  # in-context examples before every question (the in-context probe)
        body["context"] = [list(p) for p in context]
    return stable_hash(body)


def reference(task, paths: dict, data: dict, cfg: RunConfig, context: tuple = ()) -> dict:
    """The retain model's per-item log truth ratios on the forget split (by item id) and its
    membership-inference AUCs (forget vs holdout). Cached by the retain model's identity, the items,
    the evaluation settings, dtype, device and library versions. `context`: in-context examples put
    before every question (the in-context probe compares like with like)."""
    retain_ref = paths["retain"]
    forget, holdout = data["eval"]["forget"], data["eval"]["holdout"]
    path = MD.cache_root() / "reference" / f"{reference_key(retain_ref, data, cfg, context)}.json"
    build_once(path, path, lambda: write_json_atomic(
        path, _measure_reference(retain_ref, forget, holdout, cfg, context)))
    return json.loads(path.read_text())


def _measure_reference(retain_ref: str, forget: list, holdout: list, cfg: RunConfig, context: tuple = ()) -> dict:
    model = MD.load_model(retain_ref, cfg.model.dtype, cfg.model.device)
    tok = MD.load_tokenizer(retain_ref)
    fmt = PromptFormatter(tok, cfg.eval.prompt_style, cfg.eval.max_length, context)
    _, agg = evaluate_sets(model, fmt, {"forget": forget, "holdout": holdout}, cfg.eval, MD.pad_id(tok),
                           with_generation=False, progress=False)
    return {"retain_model": retain_ref, "log_ratios": agg["forget"]["log_ratios"], "auc": mia_aucs(agg)}


def evaluate(model, tok, fmt: PromptFormatter, task, data: dict, ref: dict, cfg: RunConfig, progress: bool):
    """(metrics, per-item records, cost) of `model` on the task's evaluation sets."""
    t0 = time.perf_counter()
    with FlopMeter(model) as meter:
        items, agg = evaluate_sets(model, fmt, data["eval"], cfg.eval, MD.pad_id(tok), progress=progress)
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
    cost = {"eval_s": time.perf_counter() - t0, "tokens_eval": agg["_tokens"], "eval_flops": meter.total}
    return metrics, items, cost


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


def selection_split(data: dict, source: str, task: str) -> tuple[dict, dict]:
    """(curve data, scored data) for a rule that chooses its step on held-out items
    (unlearn.select_on=held_out): the forget authors in two halves by whole authors, as the relearning
    attack splits them (even-numbered authors to the curve, odd-numbered to the evaluation), and for the
    curve's utility proxy the retain rows the evaluation does not score (retain_perturbed's authors are
    scored by model_utility). The run unlearns every forget author; it is scored on the half the rule
    never saw, against the retain model's numbers on that half."""
    per = AuthorUnits.per(0, source)
    blocks = author_blocks(data["eval"]["forget"], per, f"unlearn.select_on=held_out (task {task})")
    if len(blocks) < 2:
        raise ConfigError(f"config key 'unlearn.select_on': task {task} forgets {len(blocks)} author, and held-out "
                          f"selection needs two (one for the rule, one to score): set unlearn.select_on=evaluated")
    ev = data["eval"]
    scored_retain = {r["question"] for r in ev["retain"]}
    spare = [r for r in data["retain"] if r["question"] not in scored_retain] or ev["retain"]
    curve = {**data, "eval": {**ev, "forget": [r for b in blocks[0::2] for r in b], "retain": spare}}
    scored = {**data, "eval": {**ev, "forget": [r for b in blocks[1::2] for r in b]}}
    return curve, scored


def plots(rows, task: str, chance: dict) -> list[str]:
    """Forget quality (log) against model utility, and against the cost relative to retraining."""
    plt = P.pyplot()
    rows = P.complete(rows)
    out = []
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


def split_authors(rows: list[dict], per: int, who: str = "attack relearn") -> tuple[list[dict], list[dict]]:
    """(relearn rows, probe rows): consecutive blocks of `per` rows are authors, verified to be one
    author each (forms/_authors.py); even-numbered authors relearn, odd-numbered ones are probed. Needs
    at least two authors."""
    authors = author_blocks(rows, per, who)
    if len(authors) < 2:
        raise ConfigError(f"{who}: the forget split has one author; relearn and probe parts need two "
                          f"(a task with two forget authors or more, e.g. tofu_forget10 of the default world)")
    return [r for a in authors[0::2] for r in a], [r for a in authors[1::2] for r in a]


def author_split(data: dict, source: str | None, who: str, items_per_author_: int = 0) -> Split:
    """The units are authors: the forget evaluation's author blocks in two halves; the relearn part is
    the forget training rows of the even-numbered authors, the probe part the odd-numbered authors'
    evaluation items."""
    per = AuthorUnits.per(items_per_author_, source)
    relearn_eval, probe = split_authors(data["eval"]["forget"], per, who)
    asked = {r["question"] for r in relearn_eval}
    names = [author_name(relearn_eval[i:i + per]) for i in range(0, len(relearn_eval), per)], \
        [author_name(probe[i:i + per]) for i in range(0, len(probe), per)]
    return Split([r for r in data["forget"] if r["question"] in asked],
                 {**data, "eval": {**data["eval"], "forget": probe}}, names)


class AuthorUnits:
    """The family's units of knowledge for SISA's shards and DP's group privacy: authors. An author owns
    its block of QA rows (verified, forms/_authors.py), their extra phrasings, and is named in a forget
    request by its questions."""
    name = "authors"

    @staticmethod
    def per(items_per_author_: int, source: str | None) -> int:
        """Rows per author: the setting when given, else the world's manifest, else TOFU's 20."""
        return items_per_author(SimpleNamespace(items_per_author=items_per_author_), source)

    @staticmethod
    def count(task, source: str, per: int, who: str) -> int:
        full = task.splits.full
        return len(author_blocks(load_split(source, full), per, f"{who}: split {full}"))

    @staticmethod
    def build(source: str, splits: list[str], fmt, per: int, replay: bool, who: str = "method sisa"):
        """(examples, authors, replay indices): the target's fine-tuning examples in the target's order
        (QA rows, their phrasings, the replayed base corpus), and which of them each author owns."""
        (split,) = splits
        rows = load_split(source, split)
        blocks = author_blocks(rows, per, f"{who}: split {split}")
        examples = [fmt.encode(r["question"], r["answer"]) for r in rows]
        owner = {r["question"]: i // per for i, r in enumerate(rows)}
        units = [Unit(list(range(b * per, (b + 1) * per)), {r["question"] for r in blk}) for b, blk in enumerate(blocks)]
        folder = Path(source)
        if (folder / "phrasings.jsonl").exists():
            for p in read_jsonl(folder / "phrasings.jsonl"):
                if p["question"] in owner:
                    units[owner[p["question"]]].examples.append(len(examples))
                    examples.append(fmt.encode(p["prompt"], p["answer"]))
        start = len(examples)
        examples += MD.replay_examples(source, fmt, replay)
        return examples, units, list(range(start, len(examples)))

    @staticmethod
    def keys(rows: list[dict]) -> set:
        return {r["question"] for r in rows}

    @staticmethod
    def shown(keys: set) -> list[str]:
        """What a SISA run's shards.json lists a constituent trained on: the questions themselves."""
        return sorted(keys)


def _forget_names(data: dict, items_per_author_: int, source: str | None) -> list[str]:
    return [author_name(b) for b in author_blocks(data["forget"], AuthorUnits.per(items_per_author_, source), "")]


def pretend_fill(task, data: dict, source: str | None, items_per_author_: int) -> dict:
    """What the in-context form's pretend instruction names: the forget authors."""
    names = _forget_names(data, items_per_author_, source)
    return {"authors": ", ".join(n for n in names if n) or "the authors of the forget set", "topic": ""}


@register_track("tofu")
class Tofu(Track):
    title = "Fictitious authors (TOFU-style): forget whole authors, keep the rest"
    start = "target"                       # runs unlearn the target (fine-tuned on every author)
    roles = ("base", "target", "retain")
    refusals = True                        # question-answer data: IdkDPO's refusal answers apply
    qa = True                              # items are questions answered by generation (the probe attacks)
    worlds = {"synthetic": authors.build}  # dataset name -> builder(cache root, profile, seed) -> folder
    metrics = METRICS
    robustness_metric = "forget_prob"  # its recovery under attack scores robustness (harness/robustness.py)
    # what the leaderboard's marks screen on (harness/eligibility.py): forgetting as forget quality reads
    # it (the truth ratios the KS test compares with the retain model's), and the utility kept
    forget_signal = "forget_truth_ratio"
    utility_metric = "model_utility"
    robustness_item = ("forget", "prob")  # its per-item value: (items.jsonl set, field)
    check_task = staticmethod(check_task)
    extra_metrics = staticmethod(lambda task: {})
    load_data = staticmethod(load_data)
    training_sets = staticmethod(training_sets)
    model_examples = staticmethod(MD.training_examples)  # what the target / retain models are fine-tuned on
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
    curve_metrics = CURVE_METRICS
    curve_utility = "retain_prob"          # the floor of a selection rule is measured on this
    curve_forget = "forget_truth_ratio"    # the forget metric the curve plot shows
    request_metrics = ("forget_quality", "model_utility")  # the per-request plot (tasks with requests)
