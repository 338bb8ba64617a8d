"""The document track (MUSE, Shi et al. 2024): forget whole articles (news) or book text, measured six
ways. This module measures, for one model:
- VerbMem: ROUGE-L F1 of the greedy continuation of a forget text's opening against the true text;
- KnowMem: ROUGE-L F1 of few-shot greedy answers to questions about the forget articles (forgetting)
  and about the retain articles (utility);
- PrivLeak: Min-K% (k = eval.min_k, MUSE: 40%) membership-inference AUC, forget vs holdout articles,
  relative to the retain model's own AUC: (AUC - AUC_retain) / AUC_retain x 100;
- the memorisation and membership-inference numbers every track shares, and the compute record.
Scalability (growing forget sets) are task files over the `scal` splits; sustainability (requests one
after another) is a task with `requests:` over the `sust` splits; on a part of the forget set the
forget metrics cover the requested items alone (harness/musescope.py). The protocol is MUSE's code
(swj0419/muse_bench, metrics/*.py) where docs/metrics.md does not state a difference. The interface
every track offers: harness/tracks/__init__.py; definitions: docs/metrics.md.
"""
from __future__ import annotations

import json
import time

import numpy as np

from harness import metrics as M
from harness import models as MD
from harness import musedata, musescope
from harness.claim import build_once
from harness.config import ConfigError, RunConfig, to_dict
from harness.data import DataError
from harness.evaluate import generate_ids, score
from harness.fingerprint import model_fingerprint, precision_key
from harness.io import stable_hash, write_json_atomic
from harness.meter import FlopMeter
from harness.prompts import Encoded, PromptFormatter
from harness.tasks import MetricSpec, get_task
from harness.tracks import Track, register_track
from harness.tracks._news import event_split
from harness.units import Unit, world_kind
from harness.worlds import news

REFERENCE_VERSION = 2  # 2: texts scored without an appended EOS, Min-K% over int(k * n) tokens
SPLIT_KEYS = ("verbmem", "knowmem_forget", "knowmem_retain", "privleak_forget", "privleak_holdout")
OPTIONAL_SPLITS = ("knowmem_forget_icl", "knowmem_retain_icl", "privleak_retain")
SETTINGS = {"verbmem_new_tokens": 128, "knowmem_new_tokens": 32}  # MUSE: 128 and 32 new tokens
# eval.shots (optional): the first N pairs of each `_icl` split before a KnowMem question; without it
# every pair, as MUSE's code prompts
SHOTS = "shots"


def _m(direction: str, role: str, description: str = "", **kw) -> MetricSpec:
    return MetricSpec(direction=direction, role=role, description=description, **kw)


METRICS = {
    "verbmem": _m("lower", "forget", "VerbMem: ROUGE-L F1 of the greedy continuation of forget text vs the true "
                  "text", headline=True),
    "knowmem_forget": _m("lower", "forget", "KnowMem on forget_qa: ROUGE-L F1 of few-shot greedy answers",
                         headline=True),
    "knowmem_retain": _m("higher", "utility", "KnowMem on retain_qa: the utility kept", headline=True),
    "privleak": _m("zero", "forget", "(AUC - AUC_retain) / AUC_retain x 100, Min-K%, forget vs holdout; ~0 "
                   "ideal, -100 memorised, > 0 over-unlearned; not reported on a part of the forget set "
                   "(forget_scope says why)", headline=True),
    "exact_memorization": _m("lower", "forget", "share of forget-text tokens that are the teacher-forced argmax"),
    "extraction_strength": _m("lower", "forget", "1 - k*/|x| on forget texts"),
    "retain_exact_memorization": _m("higher", "utility", "the same on retain texts (privleak's retain split)"),
    **{f"mia_auc_{a}": _m("retain", "forget", f"{a} attack AUC, forget vs holdout texts; ideal: the retain "
                          f"model's", reference=f"retain_model_mia_auc_{a}") for a in M.MIA_ATTACKS},
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


def setting(task, key: str) -> int:
    return task.eval.get(key, SETTINGS[key])


def load_data(task, source: str, cfg: RunConfig, needs_refusals: bool = False) -> dict:
    """Every split the run touches, validated now (a bad line is one error naming file and line); the
    holdout texts (MUSE's raw/holdout) are read to be checked, though no metric uses them. Also what the
    retain model was retrained without (the target's splits it lacks: harness/musescope.py) and the kind
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


def _icl(task, ev: dict, split: str) -> list[dict]:
    """The in-context pairs before each KnowMem question of `split`: every row of its `_icl` split (as
    MUSE's code prompts), or the first eval.shots."""
    rows, n = ev.get(f"knowmem_{split}_icl", []), task.eval.get(SHOTS)
    return rows if n is None else rows[:n]


def _chunks(fmt: PromptFormatter, text: str, group: int = 0) -> list[Encoded]:
    """A document as training examples: every token scored, long texts cut into windows of
    eval.max_length tokens (MUSE's books run to thousands of tokens)."""
    tok = fmt.tok
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    room = fmt.max_length - len(bos)
    return [Encoded(bos, ids[i:i + room], group) for i in range(0, len(ids), room)]


def training_sets(fmt: PromptFormatter, data: dict):
    forget = [e for r in data["forget"] for e in _chunks(fmt, r["text"])]
    retain = [e for r in data["retain"] for e in _chunks(fmt, r["text"])]
    return forget, retain


def model_examples(source: str, splits: list[str], fmt: PromptFormatter, replay: bool) -> list[Encoded]:
    """The target trains on forget + retain texts, the retain model on retain texts (task splits)."""
    docs = [e for s in splits for r in musedata.load(source, s) for e in _chunks(fmt, r["text"])]
    return docs + MD.replay_examples(source, fmt, replay)


def _doc_scores(model, tok, rows: list[dict], cfg: RunConfig, pad: int, progress: bool) -> list[dict]:
    """Per text: the membership-inference scores (Min-K% over int(k * n) tokens, as MUSE) and
    memorisation numbers from one teacher-forced pass over the text as MUSE scores it (musedata.Texts:
    no EOS appended)."""
    res = score(model, musedata.Texts(tok, cfg.eval.max_length), [("", r["text"]) for r in rows], cfg.eval.batch_size, pad,
                [True] * len(rows), desc="score texts", progress=progress)
    return [{"id": r["id"], "mia": M.mia_scores(x["logps"], x["z"], r["text"], cfg.eval.min_k, rounding="floor"),
             "exact_memorization": M.exact_memorization(x["match"]),
             "extraction_strength": M.extraction_strength(x["match"]), "n_tokens": x["seq_tokens"]}
            for r, x in zip(rows, res)]


def _aucs(forget: list[dict], holdout: list[dict]) -> dict:
    """AUC per attack, forget texts as members (label 1); orientation in harness/metrics.py."""
    return {a: M.mia_auc([f["mia"][a] for f in forget], [h["mia"][a] for h in holdout]) for a in M.MIA_ATTACKS}


def reference(task, paths: dict, data: dict, cfg: RunConfig) -> dict:
    """The retain model's membership-inference AUCs on privleak's forget vs holdout texts (PrivLeak's
    denominator), measured once and cached by everything that made them; none (auc None) where PrivLeak
    is not reported (a part of the forget set: harness/musescope.py)."""
    if musescope.scope(data) is not None:
        return {"auc": None}
    retain_ref = paths["retain"]
    ev = data["eval"]
    key = stable_hash({"v": REFERENCE_VERSION, "retain": retain_ref, "weights": model_fingerprint(retain_ref),
                       "precision": precision_key(cfg), "eval": to_dict(cfg.eval),
                       "texts": [r["text"] for r in ev["privleak_forget"] + ev["privleak_holdout"]]})
    path = MD.cache_root() / "reference" / f"muse-{key}.json"

    def measure():
        model, tok = MD.load_model(retain_ref, cfg.model.dtype, cfg.model.device), MD.load_tokenizer(retain_ref)
        f, h = (_doc_scores(model, tok, ev[k], cfg, MD.pad_id(tok), False) for k in ("privleak_forget", "privleak_holdout"))
        write_json_atomic(path, {"retain_model": retain_ref, "auc": _aucs(f, h)})
    build_once(path, path, measure)
    return json.loads(path.read_text())


def _raw_ids(tok, text: str) -> list[int]:
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    return bos + tok(text, add_special_tokens=False)["input_ids"]


def _generations(model, tok, prompts: list[str], new_tokens: int, cfg: RunConfig, progress: bool):
    return generate_ids(model, tok, [_raw_ids(tok, p) for p in prompts], new_tokens, cfg.eval.batch_size,
                        MD.pad_id(tok), progress)


def evaluate(model, tok, fmt, task, data: dict, ref: dict, cfg: RunConfig, progress: bool):
    """(metrics, per-item records, cost). Prompts are plain text (MUSE prompts base models), never a
    chat template. On a part of the forget set (scalability, an earlier sustainability request) the
    forget metrics cover the requested items and PrivLeak is not reported (harness/musescope.py)."""
    t0 = time.perf_counter()
    scope = musescope.scope(data)
    ev = data["eval"] if scope is None else scope["eval"]
    ev = {k: v for k, v in ev.items() if v}  # a set left empty by the scope is not measured
    items, tokens = [], 0
    with FlopMeter(model) as meter:
        if "verbmem" in ev:
            new = setting(task, "verbmem_new_tokens")
            gens, n = _generations(model, tok, [r["prompt"] for r in ev["verbmem"]], new, cfg, progress)
            tokens += n
            truths = [musedata.verbmem_truth(tok, r["gt"], new) for r in ev["verbmem"]]
            items += [{"set": "verbmem", "id": r["id"], "prompt": r["prompt"], "gt": gt, "generation": g,
                       "rouge_f1": M.rouge_l_f1(g, gt)} for r, g, gt in zip(ev["verbmem"], gens, truths)]
        for split in ("forget", "retain"):
            if f"knowmem_{split}" not in ev:
                continue
            rows, shots = ev[f"knowmem_{split}"], _icl(task, ev, split)
            gens, n = _generations(model, tok, [musedata.knowmem_prompt(shots, r["question"]) for r in rows],
                                   setting(task, "knowmem_new_tokens"), cfg, progress)
            tokens += n
            answers = [musedata.knowmem_answer(g) for g in gens]
            items += [{"set": f"knowmem_{split}", "id": r["id"], "question": r["question"], "answer": r["answer"],
                       "generation": a, "rouge_f1": M.rouge_l_f1(a, r["answer"])} for r, a in zip(rows, answers)]
        docs = {k: _doc_scores(model, tok, ev[k], cfg, MD.pad_id(tok), progress)
                for k in ("privleak_forget", "privleak_holdout", "privleak_retain") if k in ev}
    for k, recs in docs.items():
        tokens += sum(r.pop("n_tokens") for r in recs)
        items += [{"set": k, **r} for r in recs]
    mean = lambda s, c: float(np.mean([i[c] for i in items if i["set"] == s]))  # noqa: E731
    metrics = {m: mean(s, c) for m, s, c in (
        ("verbmem", "verbmem", "rouge_f1"), ("knowmem_forget", "knowmem_forget", "rouge_f1"),
        ("knowmem_retain", "knowmem_retain", "rouge_f1"),
        ("exact_memorization", "privleak_forget", "exact_memorization"),
        ("extraction_strength", "privleak_forget", "extraction_strength"),
        ("retain_exact_memorization", "privleak_retain", "exact_memorization")) if s in ev}
    if scope is None:
        for a, auc in _aucs(docs["privleak_forget"], docs["privleak_holdout"]).items():
            metrics[f"mia_auc_{a}"] = auc
            metrics[f"retain_model_mia_auc_{a}"] = ref["auc"][a]
        metrics["privleak"] = M.privleak(metrics["mia_auc_min_k"], ref["auc"]["min_k"])
    else:
        metrics["forget_scope"] = scope["note"]
    metrics.update(_intervals(items, cfg.eval.bootstrap, cfg.seed))
    cost = {"eval_s": time.perf_counter() - t0, "tokens_eval": tokens, "eval_flops": meter.total}
    return metrics, items, cost


def _intervals(items: list[dict], n: int, seed: int) -> dict:
    """95% bootstrap intervals of the ROUGE means (of the sets measured), items resampled within each set."""
    if n <= 0:
        return {}
    rng = np.random.default_rng(seed)
    out = {}
    for metric in ("verbmem", "knowmem_forget", "knowmem_retain"):
        v = np.asarray([i["rouge_f1"] for i in items if i["set"] == metric])
        if not len(v):
            continue
        means = v[rng.integers(0, len(v), (n, len(v)))].mean(axis=1)
        out[f"{metric}_ci"] = [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]
    return out


# The unlearning curve (harness/curves.py): KnowMem's questions scored teacher-forced (no generation):
# the length-normalised probability of the true answer after the same few-shot prompt.
CURVE_METRICS = {"knowmem_forget_prob": "lower", "knowmem_retain_prob": "higher"}


def curve(model, fmt, data: dict, cfg: RunConfig, n_items: int) -> dict:
    """knowmem_forget_prob and knowmem_retain_prob on the first n questions of each KnowMem split:
    mean P~(answer | MUSE's few-shot prompt), the prompt of the KnowMem evaluation (plain text)."""
    ev, task = data["eval"], get_task(cfg.task)
    out = {}
    for split in ("forget", "retain"):
        icl = _icl(task, ev, split)
        qfmt = PromptFormatter(fmt.tok, "plain", cfg.eval.max_length).with_context(
            [(r["question"], r["answer"]) for r in icl])
        res = score(model, qfmt, [(r["question"], r["answer"]) for r in ev[f"knowmem_{split}"][:n_items]],
                    cfg.eval.batch_size, MD.pad_id(fmt.tok), desc="curve", progress=False)
        out[f"knowmem_{split}_prob"] = float(np.mean([M.length_normalised_prob(x["nll_mean"]) for x in res]))
    return out


def plots(rows, task: str, chance: dict) -> list[str]:
    """KnowMem on retain (utility) against VerbMem on forget, and PrivLeak against utility."""
    from harness import plots as P
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
    (tracks/_news.py); the curve asks the KnowMem questions of one half and, for its
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


class DocumentUnits:
    """The family's units of knowledge for SISA's shards: documents. A document owns its windows of
    tokens and is named in a forget request by its text."""
    name = "documents"

    @staticmethod
    def per(items_per_author_: int, source: str | None) -> int:
        return 0  # a document is one row

    @staticmethod
    def count(task, source: str, per: int, who: str) -> int:
        return sum(len(musedata.load(source, s)) for s in task.splits.model_splits("target"))

    @staticmethod
    def build(source: str, splits: list[str], fmt, per: int, replay: bool, who: str = "method sisa"):
        """Every document of the target's splits is a unit (its windows of tokens go together), in the
        target's order, then the replayed base corpus."""
        examples, units = [], []
        for split in splits:
            for row in musedata.load(source, split):
                chunk = _chunks(fmt, row["text"])
                units.append(Unit(list(range(len(examples), len(examples) + len(chunk))), {row["text"]}))
                examples += chunk
        start = len(examples)
        examples += MD.replay_examples(source, fmt, replay)
        return examples, units, list(range(start, len(examples)))

    @staticmethod
    def keys(rows: list[dict]) -> set:
        return {r["text"] for r in rows}

    @staticmethod
    def shown(keys: set) -> list[str]:
        """What a SISA run's shards.json lists a constituent trained on: each document's text hash."""
        return sorted(stable_hash(k, 16) for k in keys)


@register_track("muse")
class Muse(Track):
    title = "Documents (MUSE-style): forget news articles, keep the rest"
    start = "target"                     # runs unlearn the target (trained on forget + retain texts)
    roles = ("base", "target", "retain")
    refusals = False                     # documents, not questions: refusal answers do not apply
    worlds = {"synthetic_news": news.build}
    metrics = METRICS
    robustness_metric = "knowmem_forget"  # its recovery under attack scores robustness (harness/robustness.py)
    robustness_item = ("knowmem_forget", "rouge_f1")  # its per-item value: (items.jsonl set, field)
    check_task = staticmethod(check_task)
    extra_metrics = staticmethod(lambda task: {})
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
