"""The document family's measurements of one model (MUSE, Shi et al. 2024):
- VerbMem: ROUGE-L F1 of the greedy continuation of a forget text's opening against the true text;
- KnowMem: ROUGE-L F1 of few-shot greedy answers to questions about the forget articles (forgetting)
  and about the retain articles (utility);
- PrivLeak and membership inference, forget vs holdout texts (harness/metric_parts.py), against the
  retain model's AUCs measured once and cached (`reference`);
- memorisation of the forget texts (harness/metric_parts.py), and the compute record.
On a part of the forget set (scalability, an earlier sustainability request) the forget metrics cover
the requested items and PrivLeak is not reported (scope.py). The protocol is MUSE's code
(swj0419/muse_bench, metrics/*.py) where docs/metrics.md does not state a difference.
"""
from __future__ import annotations

import time

import numpy as np

from harness import metric_parts as MP
from harness import metrics as M
from harness import models as MD
from harness.config import RunConfig
from harness.evaluate import generate_ids, score
from harness.families.muse import data as musedata, scope as musescope
from harness.meter import FlopMeter
from harness.prompts import PromptFormatter
from harness.reference import cached, measured_on
from harness.stats import mean_interval
from harness.tasks import get_task

REFERENCE_VERSION = 2  # 2: texts scored without an appended EOS, Min-K% over int(k * n) tokens
SETTINGS = {"verbmem_new_tokens": 128, "knowmem_new_tokens": 32}  # MUSE: 128 and 32 new tokens
# eval.shots (optional): the first N pairs of each `_icl` split before a KnowMem question; without it
# every pair, as MUSE's code prompts
SHOTS = "shots"



def setting(task, key: str) -> int:
    return task.eval.get(key, SETTINGS[key])


def _icl(task, ev: dict, split: str) -> list[dict]:
    """The in-context pairs before each KnowMem question of `split`: every row of its `_icl` split (as
    MUSE's code prompts), or the first eval.shots."""
    rows, n = ev.get(f"knowmem_{split}_icl", []), task.eval.get(SHOTS)
    return rows if n is None else rows[:n]


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


def reference(task, paths: dict, data: dict, cfg: RunConfig) -> dict:
    """The retain model's membership-inference AUCs on privleak's forget vs holdout texts (PrivLeak's
    denominator), measured once and cached by everything that made them; none (auc None) where PrivLeak
    is not reported (a part of the forget set: scope.py)."""
    if musescope.scope(data) is not None:
        return {"auc": None}
    retain_ref = paths["retain"]
    ev = data["eval"]
    body = {**measured_on("retain", retain_ref, cfg, REFERENCE_VERSION),
            "texts": [r["text"] for r in ev["privleak_forget"] + ev["privleak_holdout"]]}

    def measure() -> dict:
        model, tok, _ = MD.open_model(retain_ref, cfg)
        f, h = (_doc_scores(model, tok, ev[k], cfg, MD.pad_id(tok), False) for k in ("privleak_forget", "privleak_holdout"))
        return {"retain_model": retain_ref, "auc": MP.aucs([x["mia"] for x in f], [x["mia"] for x in h])}
    return cached("muse-", body, measure)


def _raw_ids(tok, text: str) -> list[int]:
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    return bos + tok(text, add_special_tokens=False)["input_ids"]


def _generations(model, tok, prompts: list[str], new_tokens: int, cfg: RunConfig, progress: bool):
    return generate_ids(model, tok, [_raw_ids(tok, p) for p in prompts], new_tokens, cfg.eval.batch_size,
                        MD.pad_id(tok), progress)


def evaluate(model, tok, fmt, task, data: dict, ref: dict, cfg: RunConfig, progress: bool):
    """(metrics, per-item records, cost). Prompts are plain text (MUSE prompts base models), never a
    chat template. On a part of the forget set (scalability, an earlier sustainability request) the
    forget metrics cover the requested items and PrivLeak is not reported (scope.py)."""
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
        ("retain_exact_memorization", "privleak_retain", "exact_memorization")) if s in ev}
    if "privleak_forget" in docs:
        metrics.update(MP.memorisation(docs["privleak_forget"]))
    if scope is None:
        metrics.update(MP.membership([x["mia"] for x in docs["privleak_forget"]],
                                     [x["mia"] for x in docs["privleak_holdout"]], ref["auc"]))
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
        v = [i["rouge_f1"] for i in items if i["set"] == metric]
        if v:
            out[f"{metric}_ci"] = mean_interval(v, n, rng)
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
