"""Evaluation throughput: the harness's shared-pass evaluator against a deliberately naive
metric-by-metric evaluation of the same items, in the same process, on the same model.

Shared (harness/evaluate.py): each answer variant of an item is scored once, in length-sorted
batches, and every log-prob metric (probability, truth ratio, exact memorisation, extraction
strength, the four MIA scores) is derived from that pass; generation is batched with left padding.
Naive: each metric does its own forward passes, one item at a time (batch 1), and generation runs
one item at a time. Both produce the same numbers (checked below).

    python scripts/bench_eval.py [task=tofu_forget10] [repeats=1] [key=value run-config overrides...]
Prints items/s, tokens/s and sequence passes per item for both, and the speed-up.
"""
from __future__ import annotations

import sys
import time

import torch

from harness import metrics as M
from harness import models as MD
from harness import runs
from harness.config import load_run_config
from harness.evaluate import MIA_SETS, _variants, evaluate_sets, generate, score
from harness.prompts import PromptFormatter


def naive(model, fmt, sets, cfg, pad):
    """Every metric on its own: its own passes, batch size 1. Returns (per-item numbers, passes, tokens)."""
    passes = tokens = 0
    out = {}

    def one(q, a, detail=False):
        nonlocal passes, tokens
        r = score(model, fmt, [(q, a)], 1, pad, [detail], progress=False)[0]
        passes += 1
        tokens += r["seq_tokens"]
        return r

    for kind, rows in sets.items():
        for row in rows:
            q, rec = row["question"], {}
            if kind != "holdout":
                variants = dict(_variants(kind, row))
                rec["prob_nll"] = one(q, row["answer"])["nll_mean"]                       # probability
                right = variants.get("paraphrased", row["answer"])
                wrong = [one(q, t)["nll_mean"] for k, t in variants.items() if k.startswith("wrong")]
                rec["truth_ratio"] = M.truth_ratio(one(q, right)["nll_mean"], wrong)     # truth ratio
                texts, n = generate(model, fmt, [q], cfg.__class__(**{**cfg.__dict__, "batch_size": 1}),
                                    pad, progress=False)                                   # ROUGE
                passes += 1
                tokens += n
                rec["rouge"] = M.rouge_l_recall(texts[0], row["answer"])
            if kind in MIA_SETS:
                rec["em"] = M.exact_memorization(one(q, row["answer"], True)["match"])      # EM
                rec["es"] = M.extraction_strength(one(q, row["answer"], True)["match"])     # ES
                for attack in M.MIA_ATTACKS:                                               # 4 MIA scores
                    r = one(q, row["answer"], True)
                    rec[attack] = M.mia_scores(r["logps"], r["z"], row["answer"], cfg.min_k)[attack]
            out[(kind, row["id"])] = rec
    return out, passes, tokens


def main(argv: list[str]) -> None:
    opts = [a for a in argv if not a.startswith(("task=", "repeats="))]
    task = next((a.split("=", 1)[1] for a in argv if a.startswith("task=")), "tofu_forget10")
    repeats = int(next((a.split("=", 1)[1] for a in argv if a.startswith("repeats=")), "1"))
    r = runs.resolve(load_run_config(None, [f"task={task}", "method=none", *opts]))
    source = MD.dataset_source(r.cfg, r.task)
    data = runs.load_data(r, source)
    paths = MD.prepare_models(r.cfg, r.task, progress=False)
    model = MD.load_model(paths["target"], r.cfg.model.dtype, r.cfg.model.device)
    tok = MD.load_tokenizer(paths["target"])
    fmt = PromptFormatter(tok, r.cfg.eval.prompt_style, r.cfg.eval.max_length)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    sets = data["eval"]
    n_items = sum(len(v) for v in sets.values())
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    evaluate_sets(model, fmt, sets, r.cfg.eval, pad, progress=False)  # warm-up
    shared_t, naive_t = [], []
    for _ in range(repeats):
        sync(); t0 = time.perf_counter()
        recs, agg = evaluate_sets(model, fmt, sets, r.cfg.eval, pad, progress=False)
        sync(); shared_t.append(time.perf_counter() - t0)
        sync(); t0 = time.perf_counter()
        nv, passes, naive_tokens = naive(model, fmt, sets, r.cfg.eval, pad)
        sync(); naive_t.append(time.perf_counter() - t0)
    shared_passes = sum(len(_variants(k, row)) + (k != "holdout") for k, rows in sets.items() for row in rows)
    # Same numbers both ways (the point of sharing is speed, not different results).
    by = {(x["set"], x["id"]): x for x in recs}
    diff = max(abs(by[k]["truth_ratio"] - v["truth_ratio"]) for k, v in nv.items() if "truth_ratio" in v)
    ts, tn = min(shared_t), min(naive_t)
    dev = next(model.parameters()).device
    print(f"device {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'}), task {task}, "
          f"{n_items} items, {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params, "
          f"best of {repeats}")
    print(f"shared : {ts:7.2f} s  {n_items / ts:8.1f} items/s  {agg['_tokens'] / ts:9.0f} tokens/s  "
          f"{shared_passes / n_items:.1f} sequence passes/item (batched {r.cfg.eval.batch_size})")
    print(f"naive  : {tn:7.2f} s  {n_items / tn:8.1f} items/s  {naive_tokens / tn:9.0f} tokens/s  "
          f"{passes / n_items:.1f} sequence passes/item (batch 1)")
    print(f"speed-up {tn / ts:.1f}x; max |truth ratio difference| {diff:.2e}")


if __name__ == "__main__":
    main(sys.argv[1:])
