"""TOFU evaluation of one model on one task.

Every answer variant of every item (answer, paraphrased answer, perturbed answers) is scored in one
teacher-forced pass, in length-sorted batches; every metric of an item is derived from those numbers.
Generation for ROUGE is batched, left-padded, greedy, with the KV cache. Items keep their ids from
loading to the per-item output.
"""
from __future__ import annotations

import sys

import numpy as np
import torch
from tqdm import tqdm

from harness import metrics as M
from harness.config import EvalConfig
from harness.prompts import PromptFormatter
from harness.tensors import answer_logprobs, collate, left_pad

# Sets in TOFU's *_perturbed schema (forget and retain): the truth ratio's right side is the
# paraphrased answer and the probability is P~(answer) itself. The others (real-authors, world-facts)
# use the original answer as the right side and normalise the probability over the options. How the
# truth ratio is aggregated is a separate choice: mean(min(R, 1/R)) on the forget split only,
# mean(max(0, 1 - R)) on every other set (see _aggregate).
PARAPHRASED_SETS = {"forget", "retain"}


def token_stats(lp) -> dict[str, torch.Tensor]:
    """Per answer token, from the same pass: greedy match (argmax = y_t) and the Min-K%++ z-score
    z_t = (log p_t - mu_t) / sigma_t under the model's own next-token distribution."""
    lsm = torch.log_softmax(lp.logits.float(), -1)
    p = lsm.exp()
    mu = (p * lsm).sum(-1)
    var = ((p * lsm * lsm).sum(-1) - mu ** 2).clamp(min=1e-6)
    return {"match": (lp.logits.argmax(-1) == lp.targets), "z": (lp.token_logps - mu) / var.sqrt()}


@torch.no_grad()
def score(model, fmt: PromptFormatter, seqs: list[tuple[str, str]], batch_size: int, pad_id: int,
          detail: list[bool] | None = None, desc: str = "score", progress: bool = True) -> list[dict]:
    """One teacher-forced pass per (question, answer) pair, in batches formed by length. Each result
    has 'nll_mean' and 'n_tokens'; where detail[i], also the per-token 'logps', 'match' and 'z' that
    memorisation and membership-inference metrics need."""
    enc = [fmt.encode(q, a) for q, a in seqs]
    detail = detail or [False] * len(enc)
    order = sorted(range(len(enc)), key=lambda i: len(enc[i].prompt) + len(enc[i].answer))
    out: list[dict] = [{}] * len(enc)
    for s in tqdm(range(0, len(order), batch_size), desc=desc, disable=not progress or not sys.stderr.isatty(),
                  leave=False):
        idx = order[s:s + batch_size]
        want = any(detail[i] for i in idx)
        lp = answer_logprobs(model, collate([enc[i] for i in idx], pad_id), keep_logits=want)
        st = token_stats(lp) if want else None
        for row, i in enumerate(idx):
            m = lp.mask[row].bool()
            res = {"nll_mean": float(lp.nll_mean[row]), "n_tokens": int(m.sum()),
                   "seq_tokens": len(enc[i].prompt) + len(enc[i].answer)}
            if detail[i]:
                res.update(logps=lp.token_logps[row][m].tolist(), match=st["match"][row][m].tolist(),
                           z=st["z"][row][m].tolist())
            out[i] = res
    return out


def generate(model, fmt: PromptFormatter, questions: list[str], cfg: EvalConfig, pad_id: int,
             progress: bool = True) -> tuple[list[str], int]:
    """Greedy answers to questions (in the prompt format), the order of `questions` kept. Also returns
    the tokens processed (prompts + generated), for the cost record."""
    return generate_ids(model, fmt.tok, [fmt.prompt_ids(q) for q in questions], cfg.max_new_tokens,
                        cfg.batch_size, pad_id, progress)


@torch.no_grad()
def generate_ids(model, tok, prompts: list[list[int]], max_new_tokens: int, batch_size: int, pad_id: int,
                 progress: bool = True) -> tuple[list[str], int]:
    """Greedy continuations of token-id prompts, batched by length with left padding and the KV cache;
    the order of `prompts` is kept. Returns (decoded texts, tokens processed)."""
    dev = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out = [""] * len(prompts)
    tokens = sum(len(p) for p in prompts)
    for s in tqdm(range(0, len(order), batch_size), desc="generate", disable=not progress or not sys.stderr.isatty(), leave=False):
        idx = order[s:s + batch_size]
        batch = {k: v.to(dev) for k, v in left_pad([prompts[i] for i in idx], pad_id).items()}
        gen = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=pad_id, eos_token_id=tok.eos_token_id, use_cache=True)
        new = gen[:, batch["input_ids"].shape[1]:]
        tokens += int((new != pad_id).sum())
        for i, text in zip(idx, tok.batch_decode(new, skip_special_tokens=True)):
            out[i] = text.strip()
    return out, tokens


def _variants(kind: str, row: dict) -> list[tuple[str, str]]:
    """(variant name, answer text) pairs scored for one item."""
    out = [("answer", row["answer"])]
    if kind == "holdout":  # membership inference needs the answer only
        return out
    if kind in PARAPHRASED_SETS:
        out.append(("paraphrased", row["paraphrased_answer"]))
    out += [(f"wrong{j}", w) for j, w in enumerate(row["perturbed_answer"])]
    return out


def evaluate_sets(model, fmt: PromptFormatter, sets: dict[str, list[dict]], cfg: EvalConfig,
                  pad_id: int, with_generation: bool = True, progress: bool = True):
    """Return (per-item records, per-set aggregates). `sets` maps kind -> rows with an 'id'. Kinds:
    forget, retain, real_authors, world_facts (TOFU) and holdout (membership inference only)."""
    model.eval()
    by_item: dict[tuple, dict] = {}
    tokens = 0
    for kind, rows in sets.items():
        # Scored set by set, so an item's numbers never depend on which other sets share its batch
        # (the retain model's forget ratios are then identical in its own run and as the reference).
        seqs, keys = [], []
        for row in rows:
            for name, text in _variants(kind, row):
                seqs.append((row["question"], text))
                keys.append((row["id"], name))
        detail = [name == "answer" and kind in MIA_SETS for _, name in keys]
        res = score(model, fmt, seqs, cfg.batch_size, pad_id, detail, desc=f"score {kind}", progress=progress)
        for (iid, name), v in zip(keys, res):
            by_item.setdefault((kind, iid), {})[name] = v
        tokens += sum(v["seq_tokens"] for v in res)
    records, agg = [], {}
    for kind, rows in sets.items():
        gens = [None] * len(rows)
        if with_generation and kind != "holdout":
            gens, n = generate(model, fmt, [r["question"] for r in rows], cfg, pad_id, progress)
            tokens += n
        recs = [_item(kind, row, by_item[(kind, row["id"])], g, cfg.min_k) for row, g in zip(rows, gens)]
        records += recs
        agg[kind] = _aggregate(kind, recs)
    agg["_tokens"] = tokens  # every token through a forward pass (scoring and generation)
    return records, agg


MIA_SETS = {"forget", "retain", "holdout"}


def _item(kind: str, row: dict, n: dict, generation: str | None, k: float) -> dict:
    """Every per-item number, derived from the item's scored variants (and its generation)."""
    nll = {k: v["nll_mean"] for k, v in n.items()}
    rec = {"set": kind, "id": row["id"], "question": row["question"], "answer": row["answer"], "nll_mean": nll}
    if kind != "holdout":
        wrong = [v for k, v in nll.items() if k.startswith("wrong")]
        right = nll["paraphrased"] if kind in PARAPHRASED_SETS else nll["answer"]
        rec["log_truth_ratio"] = M.log_truth_ratio(right, wrong)
        rec["truth_ratio"] = M.truth_ratio(right, wrong)  # None when beyond a float (collapsed model)
        rec["prob"] = M.length_normalised_prob(nll["answer"]) if kind in PARAPHRASED_SETS \
            else M.normalised_option_prob(nll["answer"], wrong)
    if generation is not None:
        rec["generation"] = generation
        rec["rouge"] = M.rouge_l_recall(generation, row["answer"])
    if kind in MIA_SETS:
        a = n["answer"]
        rec["exact_memorization"] = M.exact_memorization(a["match"])
        rec["extraction_strength"] = M.extraction_strength(a["match"])
        rec["mia"] = M.mia_scores(a["logps"], a["z"], row["answer"], k)
    return rec


def _aggregate(kind: str, recs: list[dict]) -> dict:
    out = {"n": len(recs)}
    if kind != "holdout":
        logs = [r["log_truth_ratio"] for r in recs]
        out["log_ratios"] = {r["id"]: r["log_truth_ratio"] for r in recs}
        out["truth_ratio"] = M.forget_truth_ratio_stat(logs) if kind == "forget" else M.utility_truth_ratio_stat(logs)
        out["prob"] = float(np.mean([r["prob"] for r in recs]))
    if recs and "rouge" in recs[0]:
        out["rouge"] = float(np.mean([r["rouge"] for r in recs]))
    if kind in MIA_SETS:
        out["exact_memorization"] = float(np.mean([r["exact_memorization"] for r in recs]))
        out["extraction_strength"] = float(np.mean([r["extraction_strength"] for r in recs]))
        out["mia"] = {k: [r["mia"][k] for r in recs] for k in M.MIA_ATTACKS}
    return out


def mia_aucs(agg: dict) -> dict:
    """AUC of each attack, forget (members, label 1) vs holdout (non-members, label 0)."""
    return {k: M.mia_auc(agg["forget"]["mia"][k], agg["holdout"]["mia"][k]) for k in M.MIA_ATTACKS}


def aligned(ids: list[str], by_id: dict[str, float], what: str) -> list[float]:
    """Values of `by_id` in the order of `ids`, joined by item id; a missing or extra item fails
    loudly (a positional join silently compares different items when one is dropped)."""
    missing = [i for i in ids if i not in by_id]
    extra = sorted(set(by_id) - set(ids))
    if missing or extra:
        raise RuntimeError(f"{what} do not cover the evaluated forget items: {len(missing)} missing"
                           f"{f' (e.g. {missing[0]})' if missing else ''}, {len(extra)} extra"
                           f"{f' (e.g. {extra[0]})' if extra else ''}")
    return [by_id[i] for i in ids]


def tofu_metrics(agg: dict, reference: dict | None) -> dict:
    """Headline numbers. The retain model's forget truth ratios and MIA AUCs (`reference`, measured
    by the harness) are required: a missing input fails the run, never a silent None."""
    if not reference or not reference.get("log_ratios") or not reference.get("auc"):
        raise RuntimeError("forget_quality and privleak need the retain model's truth ratios and MIA AUCs "
                           "on this forget split, and they are missing")
    out = {}
    for kind, a in agg.items():
        if kind.startswith("_"):
            continue
        for m in ("prob", "rouge", "truth_ratio", "exact_memorization", "extraction_strength"):
            if m in a:
                out[f"{kind}_{m}"] = a[m]
        out[f"{kind}_n"] = a["n"]
    ours = agg["forget"]["log_ratios"]
    theirs = aligned(list(ours), reference["log_ratios"], "the retain model's truth ratios")
    out.update(M.forget_quality(list(ours.values()), theirs))
    out["model_utility"] = M.model_utility(out)
    out["exact_memorization"] = out["forget_exact_memorization"]
    out["extraction_strength"] = out["forget_extraction_strength"]
    for attack, auc in mia_aucs(agg).items():
        out[f"mia_auc_{attack}"] = auc
        out[f"retain_model_mia_auc_{attack}"] = reference["auc"][attack]
    out["privleak"] = M.privleak(out["mia_auc_min_k"], reference["auc"]["min_k"])
    return out
