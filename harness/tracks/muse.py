"""The document track (MUSE, Shi et al. 2024): forget whole articles (news) or book text, measured six
ways. This module measures, for one model:
- VerbMem: ROUGE-L F1 of the greedy continuation of a forget text's opening against the true text;
- KnowMem: ROUGE-L F1 of few-shot greedy answers to questions about the forget articles (forgetting)
  and about the retain articles (utility);
- PrivLeak: Min-K% (k = eval.min_k, MUSE: 40%) membership-inference AUC, forget vs holdout articles,
  relative to the retain model's own AUC: (AUC - AUC_retain) / AUC_retain x 100;
- the memorisation and membership-inference numbers every track shares, and the compute record.
Scalability (growing forget sets) are task files over the `scal` splits; sustainability (requests one
after another) is a task with `requests:` over the `sust` splits. The interface every track offers:
harness/tracks/__init__.py; definitions: docs/metrics.md.
"""
from __future__ import annotations

import json
import time

import numpy as np

from harness import metrics as M
from harness import models as MD
from harness import musedata
from harness.claim import build_once
from harness.config import ConfigError, RunConfig, to_dict
from harness.data import DataError
from harness.evaluate import generate_ids, score
from harness.fingerprint import model_fingerprint, precision_key
from harness.io import stable_hash, write_json_atomic
from harness.meter import FlopMeter
from harness.prompts import Encoded, PromptFormatter
from harness.tasks import MetricSpec, get_task
from harness.tracks import register_track
from harness.worlds import news

REFERENCE_VERSION = 1
SPLIT_KEYS = ("verbmem", "knowmem_forget", "knowmem_retain", "privleak_forget", "privleak_holdout")
OPTIONAL_SPLITS = ("knowmem_forget_icl", "knowmem_retain_icl", "privleak_retain")
SETTINGS = {"verbmem_new_tokens": 128, "knowmem_new_tokens": 32, "shots": 3}  # MUSE: 128 new tokens


def _m(direction: str, role: str, description: str = "", **kw) -> MetricSpec:
    return MetricSpec(direction=direction, role=role, description=description, **kw)


METRICS = {
    "verbmem": _m("lower", "forget", "VerbMem: ROUGE-L F1 of the greedy continuation of forget text vs the true "
                  "text", headline=True),
    "knowmem_forget": _m("lower", "forget", "KnowMem on forget_qa: ROUGE-L F1 of few-shot greedy answers",
                         headline=True),
    "knowmem_retain": _m("higher", "utility", "KnowMem on retain_qa: the utility kept", headline=True),
    "privleak": _m("zero", "forget", "(AUC - AUC_retain) / AUC_retain x 100, Min-K%, forget vs holdout; ~0 "
                   "ideal, -100 memorised, > 0 over-unlearned", headline=True),
    "exact_memorization": _m("lower", "forget", "share of forget-text tokens that are the teacher-forced argmax"),
    "extraction_strength": _m("lower", "forget", "1 - k*/|x| on forget texts"),
    "retain_exact_memorization": _m("higher", "utility", "the same on retain texts (privleak's retain split)"),
    **{f"mia_auc_{a}": _m("retain", "forget", f"{a} attack AUC, forget vs holdout texts; ideal: the retain "
                          f"model's", reference=f"retain_model_mia_auc_{a}") for a in M.MIA_ATTACKS},
}


def check_task(task, where: str) -> None:
    ev = task.eval
    bad = [k for k in ev if k not in (*SPLIT_KEYS, *OPTIONAL_SPLITS, *SETTINGS)]
    if bad:
        raise ConfigError(f"{where}: eval.{bad[0]}: unknown key for family muse (expected "
                          f"{', '.join((*SPLIT_KEYS, *OPTIONAL_SPLITS, *SETTINGS))})")
    missing = [k for k in SPLIT_KEYS if k not in ev]
    if missing:
        raise ConfigError(f"{where}: eval.{missing[0]} is required (a split such as "
                          f"{'verbmem/forget' if missing[0] == 'verbmem' else 'knowmem/forget_qa'})")
    for k in SETTINGS:
        v = ev.get(k, SETTINGS[k])
        if not isinstance(v, int) or isinstance(v, bool) or v < (0 if k == "shots" else 1):
            raise ConfigError(f"{where}: eval.{k} must be an integer >= {0 if k == 'shots' else 1}, got {v!r}")
    refs = [ev[k] for k in (*SPLIT_KEYS, *OPTIONAL_SPLITS) if k in ev] + task.splits.forget_list + [
        task.splits.retain, *task.splits.model_splits("target"), *task.splits.model_splits("retain"), *task.requests]
    for ref in refs:
        if not isinstance(ref, str):
            raise ConfigError(f"{where}: expected a split name such as raw/forget, got {ref!r}")
        try:
            musedata.split_ref(ref)
        except DataError as e:
            raise ConfigError(f"{where}: {e}") from None
    if task.lm_eval_tasks or not isinstance(task.splits.forget, str):
        raise ConfigError(f"{where}: family muse takes one forget split (several: requests) and no lm_eval_tasks")


def setting(task, key: str) -> int:
    return task.eval.get(key, SETTINGS[key])


def load_data(task, source: str, cfg: RunConfig, needs_refusals: bool = False) -> dict:
    """Every split the run touches, validated now (a bad line is one error naming file and line)."""
    ev = task.eval
    data = {"forget": musedata.load(source, task.splits.forget), "retain": musedata.load(source, task.splits.retain),
            "eval": {k: musedata.load(source, ev[k]) for k in (*SPLIT_KEYS, *OPTIONAL_SPLITS) if k in ev}}
    if task.requests:
        data["requests"] = [musedata.load(source, r) for r in task.requests]
    return data


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


def _doc_scores(model, fmt, rows: list[dict], cfg: RunConfig, pad: int, progress: bool) -> list[dict]:
    """Per text: the membership-inference scores and memorisation numbers from one teacher-forced pass."""
    res = score(model, fmt, [("", r["text"]) for r in rows], cfg.eval.batch_size, pad, [True] * len(rows),
                desc="score texts", progress=progress)
    return [{"id": r["id"], "mia": M.mia_scores(x["logps"], x["z"], r["text"], cfg.eval.min_k),
             "exact_memorization": M.exact_memorization(x["match"]),
             "extraction_strength": M.extraction_strength(x["match"]), "n_tokens": x["seq_tokens"]}
            for r, x in zip(rows, res)]


def _aucs(forget: list[dict], holdout: list[dict]) -> dict:
    """AUC per attack, forget texts as members (label 1); orientation in harness/metrics.py."""
    return {a: M.mia_auc([f["mia"][a] for f in forget], [h["mia"][a] for h in holdout]) for a in M.MIA_ATTACKS}


def reference(task, paths: dict, data: dict, cfg: RunConfig) -> dict:
    """The retain model's membership-inference AUCs on privleak's forget vs holdout texts (PrivLeak's
    denominator), measured once and cached by everything that made them."""
    retain_ref = paths["retain"]
    ev = data["eval"]
    key = stable_hash({"v": REFERENCE_VERSION, "retain": retain_ref, "weights": model_fingerprint(retain_ref),
                       "precision": precision_key(cfg), "eval": to_dict(cfg.eval),
                       "texts": [r["text"] for r in ev["privleak_forget"] + ev["privleak_holdout"]]})
    path = MD.cache_root() / "reference" / f"muse-{key}.json"

    def measure():
        model, tok = MD.load_model(retain_ref, cfg.model.dtype, cfg.model.device), MD.load_tokenizer(retain_ref)
        fmt = PromptFormatter(tok, "plain", cfg.eval.max_length)
        f, h = (_doc_scores(model, fmt, ev[k], cfg, MD.pad_id(tok), False) for k in ("privleak_forget", "privleak_holdout"))
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
    chat template."""
    t0 = time.perf_counter()
    ev, items, tokens = data["eval"], [], 0
    pfmt = PromptFormatter(tok, "plain", cfg.eval.max_length)
    with FlopMeter(model) as meter:
        gens, n = _generations(model, tok, [r["prompt"] for r in ev["verbmem"]], setting(task, "verbmem_new_tokens"),
                               cfg, progress)
        tokens += n
        items += [{"set": "verbmem", "id": r["id"], "prompt": r["prompt"], "gt": r["gt"], "generation": g,
                   "rouge_f1": M.rouge_l_f1(g, r["gt"])} for r, g in zip(ev["verbmem"], gens)]
        for split in ("forget", "retain"):
            rows, shots = ev[f"knowmem_{split}"], ev.get(f"knowmem_{split}_icl", [])[:setting(task, "shots")]
            gens, n = _generations(model, tok, [musedata.knowmem_prompt(shots, r["question"]) for r in rows],
                                   setting(task, "knowmem_new_tokens"), cfg, progress)
            tokens += n
            answers = [g.split("\n")[0].strip() for g in gens]  # the answer ends at the line break
            items += [{"set": f"knowmem_{split}", "id": r["id"], "question": r["question"], "answer": r["answer"],
                       "generation": a, "rouge_f1": M.rouge_l_f1(a, r["answer"])} for r, a in zip(rows, answers)]
        docs = {k: _doc_scores(model, pfmt, ev[k], cfg, MD.pad_id(tok), progress)
                for k in ("privleak_forget", "privleak_holdout", "privleak_retain") if k in ev}
    for k, recs in docs.items():
        tokens += sum(r.pop("n_tokens") for r in recs)
        items += [{"set": k, **r} for r in recs]
    mean = lambda s, c: float(np.mean([i[c] for i in items if i["set"] == s]))  # noqa: E731
    metrics = {"verbmem": mean("verbmem", "rouge_f1"), "knowmem_forget": mean("knowmem_forget", "rouge_f1"),
               "knowmem_retain": mean("knowmem_retain", "rouge_f1"),
               "exact_memorization": mean("privleak_forget", "exact_memorization"),
               "extraction_strength": mean("privleak_forget", "extraction_strength")}
    if "privleak_retain" in docs:
        metrics["retain_exact_memorization"] = mean("privleak_retain", "exact_memorization")
    for a, auc in _aucs(docs["privleak_forget"], docs["privleak_holdout"]).items():
        metrics[f"mia_auc_{a}"] = auc
        metrics[f"retain_model_mia_auc_{a}"] = ref["auc"][a]
    metrics["privleak"] = M.privleak(metrics["mia_auc_min_k"], ref["auc"]["min_k"])
    metrics.update(_intervals(items, cfg.eval.bootstrap, cfg.seed))
    cost = {"eval_s": time.perf_counter() - t0, "tokens_eval": tokens, "eval_flops": meter.total}
    return metrics, items, cost


def _intervals(items: list[dict], n: int, seed: int) -> dict:
    """95% bootstrap intervals of the three ROUGE means, items resampled within each set."""
    if n <= 0:
        return {}
    rng = np.random.default_rng(seed)
    out = {}
    for metric, s in (("verbmem", "verbmem"), ("knowmem_forget", "knowmem_forget"), ("knowmem_retain", "knowmem_retain")):
        v = np.asarray([i["rouge_f1"] for i in items if i["set"] == s])
        means = v[rng.integers(0, len(v), (n, len(v)))].mean(axis=1)
        out[f"{metric}_ci"] = [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]
    return out


# The unlearning curve (harness/curves.py): KnowMem's questions scored teacher-forced (no generation):
# the length-normalised probability of the true answer after the same few-shot prompt.
CURVE_METRICS = {"knowmem_forget_prob": "lower", "knowmem_retain_prob": "higher"}


def curve(model, fmt, data: dict, cfg: RunConfig, n_items: int) -> dict:
    """knowmem_forget_prob and knowmem_retain_prob on the first n questions of each KnowMem split:
    mean P~(answer | MUSE's few-shot prompt), the prompt of the KnowMem evaluation (plain text)."""
    ev, shots = data["eval"], setting(get_task(cfg.task), "shots")
    out = {}
    for split in ("forget", "retain"):
        icl = ev.get(f"knowmem_{split}_icl", [])[:shots]
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


@register_track("muse")
class Muse:
    title = "Documents (MUSE-style): forget news articles, keep the rest"
    start = "target"                     # runs unlearn the target (trained on forget + retain texts)
    roles = ("base", "target", "retain")
    refusals = False                     # documents, not questions: refusal answers do not apply
    worlds = {"synthetic_news": news.build}
    metrics = METRICS
    robustness_metric = "knowmem_forget"  # its recovery under attack scores robustness (harness/robustness.py)
    check_task = staticmethod(check_task)
    extra_metrics = staticmethod(lambda task: {})
    load_data = staticmethod(load_data)
    training_sets = staticmethod(training_sets)
    model_examples = staticmethod(model_examples)
    reference = staticmethod(reference)
    evaluate = staticmethod(evaluate)
    plots = staticmethod(plots)
    curve = staticmethod(curve)            # optional (harness/curves.py): the unlearning curve
    curve_metrics = CURVE_METRICS
    curve_utility = "knowmem_retain_prob"  # the floor of a selection rule is measured on this
    curve_forget = "knowmem_forget_prob"   # the forget metric the curve plot shows
    request_metrics = ("knowmem_forget", "knowmem_retain")  # the per-request plot (sustainability)
