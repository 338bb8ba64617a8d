"""What every family's evaluation is made of: teacher-forced scoring of (prompt, text) pairs in
length-sorted batches, with the per-token numbers memorisation and membership inference need, and
greedy generation, batched, left-padded, with the KV cache. The families' evaluators
(harness/families/*/) build their metrics from these."""
from __future__ import annotations

import sys

import torch
from tqdm import tqdm

from harness.config import EvalConfig
from harness.prompts import PromptFormatter
from harness.tensors import answer_logprobs, collate, left_pad

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
