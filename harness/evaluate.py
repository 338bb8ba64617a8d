"""TOFU evaluation of one model on one task.

Every answer variant of every item (answer, paraphrased answer, perturbed answers) is scored in one
teacher-forced pass, in length-sorted batches; every metric of an item is derived from those numbers.
Generation for ROUGE is batched, left-padded, greedy, with the KV cache. Items keep their ids from
loading to the per-item output.
"""
from __future__ import annotations

import sys

import torch
from tqdm import tqdm

from harness import metrics as M
from harness.config import EvalConfig
from harness.prompts import PromptFormatter
from harness.tensors import answer_logprobs, collate, left_pad

# Which sets are "forget" style (paraphrased answer as the right one, min(R,1/R)) and which are
# utility style (options normalised, max(0, 1-R)).
FORGET_STYLE = {"forget", "retain"}


def _variants(kind: str, row: dict) -> list[tuple[str, str]]:
    """(variant name, answer text) pairs scored for one item."""
    out = [("answer", row["answer"])]
    if kind in FORGET_STYLE:
        out.append(("paraphrased", row["paraphrased_answer"]))
    out += [(f"wrong{j}", w) for j, w in enumerate(row["perturbed_answer"])]
    return out


@torch.no_grad()
def score_nll(model, fmt: PromptFormatter, seqs: list[tuple[str, str]], batch_size: int,
              pad_id: int, desc: str = "score", progress: bool = True) -> list[float]:
    """Mean answer-token NLL of each (question, answer) pair; batches formed by length."""
    enc = [fmt.encode(q, a) for q, a in seqs]
    order = sorted(range(len(enc)), key=lambda i: len(enc[i].prompt) + len(enc[i].answer))
    out = [0.0] * len(enc)
    for s in tqdm(range(0, len(order), batch_size), desc=desc, disable=not progress or not sys.stderr.isatty(), leave=False):
        idx = order[s:s + batch_size]
        lp = answer_logprobs(model, collate([enc[i] for i in idx], pad_id))
        for i, v in zip(idx, lp.nll_mean.tolist()):
            out[i] = v
    return out


@torch.no_grad()
def generate(model, fmt: PromptFormatter, questions: list[str], cfg: EvalConfig, pad_id: int,
             progress: bool = True) -> list[str]:
    """Greedy answers, batched with left padding; the order of `questions` is kept."""
    dev = next(model.parameters()).device
    prompts = [fmt.prompt_ids(q) for q in questions]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out = [""] * len(prompts)
    for s in tqdm(range(0, len(order), cfg.batch_size), desc="generate", disable=not progress or not sys.stderr.isatty(), leave=False):
        idx = order[s:s + cfg.batch_size]
        batch = {k: v.to(dev) for k, v in left_pad([prompts[i] for i in idx], pad_id).items()}
        gen = model.generate(**batch, max_new_tokens=cfg.max_new_tokens, do_sample=False,
                             pad_token_id=pad_id, eos_token_id=fmt.tok.eos_token_id, use_cache=True)
        new = gen[:, batch["input_ids"].shape[1]:]
        for i, text in zip(idx, fmt.tok.batch_decode(new, skip_special_tokens=True)):
            out[i] = text.strip()
    return out


def evaluate_sets(model, fmt: PromptFormatter, sets: dict[str, list[dict]], cfg: EvalConfig,
                  pad_id: int, with_generation: bool = True, progress: bool = True):
    """Return (per-item records, per-set aggregates). `sets` maps kind -> rows with an 'id'."""
    model.eval()
    by_item: dict[tuple, dict] = {}
    for kind, rows in sets.items():
        # Scored set by set, so an item's numbers never depend on which other sets share its batch
        # (the retain model's forget ratios are then identical in its own run and as the reference).
        seqs, keys = [], []
        for row in rows:
            for name, text in _variants(kind, row):
                seqs.append((row["question"], text))
                keys.append((row["id"], name))
        nll = score_nll(model, fmt, seqs, cfg.batch_size, pad_id, desc=f"score {kind}", progress=progress)
        for (iid, name), v in zip(keys, nll):
            by_item.setdefault((kind, iid), {})[name] = v
    records, agg = [], {}
    for kind, rows in sets.items():
        gens = generate(model, fmt, [r["question"] for r in rows], cfg, pad_id, progress) \
            if with_generation else [None] * len(rows)
        ratios, probs, rouges = [], [], []
        for row, g in zip(rows, gens):
            n = by_item[(kind, row["id"])]
            wrong = [v for k, v in n.items() if k.startswith("wrong")]
            right = n["paraphrased"] if kind in FORGET_STYLE else n["answer"]
            r = M.truth_ratio(right, wrong)
            p = M.length_normalised_prob(n["answer"]) if kind in FORGET_STYLE \
                else M.normalised_option_prob(n["answer"], wrong)
            rec = {"set": kind, "id": row["id"], "question": row["question"], "answer": row["answer"],
                   "prob": p, "truth_ratio": r, "nll_mean": n}
            if g is not None:
                rec["generation"] = g
                rec["rouge"] = M.rouge_l_recall(g, row["answer"])
                rouges.append(rec["rouge"])
            records.append(rec)
            ratios.append(r)
            probs.append(p)
        tr = M.forget_truth_ratio_stat(ratios) if kind == "forget" else M.utility_truth_ratio_stat(ratios)
        agg[kind] = {"prob": sum(probs) / len(probs), "truth_ratio": tr, "n": len(rows),
                     "ratios": ratios}
        if with_generation:
            agg[kind]["rouge"] = sum(rouges) / len(rouges)
    return records, agg


def tofu_metrics(agg: dict, retain_model_forget_ratios: list[float] | None) -> dict:
    """Headline numbers. The retain model's forget truth ratios are required: no silent None."""
    if not retain_model_forget_ratios:
        raise RuntimeError("forget_quality needs the retain model's truth ratios on this forget split, "
                           "and they are missing")
    out = {}
    for kind, a in agg.items():
        for m in ("prob", "rouge", "truth_ratio"):
            if m in a:
                out[f"{kind}_{m}"] = a[m]
        out[f"{kind}_n"] = a["n"]
    out.update(M.forget_quality(agg["forget"]["ratios"], retain_model_forget_ratios))
    out["model_utility"] = M.model_utility(out)
    return out
