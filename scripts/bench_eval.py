"""Evaluation throughput: the harness's shared-pass evaluator against a deliberately naive
metric-by-metric evaluation of the same items, in the same process, on the same model.

Shared (harness/evaluate.py): each answer variant of an item is scored once, in length-sorted
batches, and every log-prob metric (probability, truth ratio, exact memorisation, extraction
strength, the four MIA scores) is derived from that pass; generation is batched with left padding.
Metric by metric (the way open-unlearning evaluates): each metric makes its own batched passes
(batch 32 by default; baseline_batch=1 gives the naive one-item-at-a-time evaluation). Both produce
the same numbers (every per-item number is compared below).

    python scripts/bench_eval.py [task=tofu_forget10] [repeats=1] [baseline_batch=32] [key=value overrides...]
    python scripts/bench_eval.py task=tofu_real_forget10 model=smollm2-135m world.profile=small \
        model.finetune.lora_rank=16 model.finetune.lr=1e-3 model.finetune.epochs=8 model.finetune.batch_size=8
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
from harness.evaluate import generate, score
from harness.families.tofu.qa import MIA_SETS, _variants, evaluate_sets
from harness.prompts import PromptFormatter


def metric_by_metric(model, fmt, sets, cfg, pad, batch: int):
    """Every metric on its own, as open-unlearning evaluates: each metric makes its own passes over the
    items (probability, truth ratio, ROUGE's generation, exact memorisation, extraction strength, each
    MIA score), in batches of `batch`. Returns (per-item numbers, sequence passes, tokens)."""
    stats = {"passes": 0, "tokens": 0}
    ecfg = cfg.__class__(**{**cfg.__dict__, "batch_size": batch})

    def scored(pairs, detail=False):
        res = score(model, fmt, pairs, batch, pad, [detail] * len(pairs), progress=False)
        stats["passes"] += len(pairs)
        stats["tokens"] += sum(r["seq_tokens"] for r in res)
        return res

    out = {}
    for kind, rows in sets.items():
        recs = {row["id"]: {} for row in rows}
        qa = [(row["question"], row["answer"]) for row in rows]
        if kind != "holdout":
            for row, r in zip(rows, scored(qa)):                                             # probability
                recs[row["id"]]["prob_nll"] = r["nll_mean"]
            variants = [dict(_variants(kind, row)) for row in rows]                          # truth ratio
            right = scored([(row["question"], v.get("paraphrased", row["answer"])) for row, v in zip(rows, variants)])
            wrong_pairs = [(row["question"], t) for row, v in zip(rows, variants) for k, t in v.items()
                           if k.startswith("wrong")]
            wrong = iter(scored(wrong_pairs))
            for row, v, rr in zip(rows, variants, right):
                w = [next(wrong)["nll_mean"] for k in v if k.startswith("wrong")]
                recs[row["id"]]["truth_ratio"] = M.truth_ratio(rr["nll_mean"], w)
            texts, n = generate(model, fmt, [row["question"] for row in rows], ecfg, pad, progress=False)  # ROUGE
            stats["passes"] += len(rows)
            stats["tokens"] += n
            for row, t in zip(rows, texts):
                recs[row["id"]]["rouge"] = M.rouge_l_recall(t, row["answer"])
        if kind in MIA_SETS:
            for row, r in zip(rows, scored(qa, True)):                                       # EM
                recs[row["id"]]["em"] = M.exact_memorization(r["match"])
            for row, r in zip(rows, scored(qa, True)):                                       # ES
                recs[row["id"]]["es"] = M.extraction_strength(r["match"])
            for attack in M.MIA_ATTACKS:                                                     # each MIA score
                for row, r in zip(rows, scored(qa, True)):
                    recs[row["id"]][attack] = M.mia_scores(r["logps"], r["z"], row["answer"], cfg.min_k)[attack]
        out.update({(kind, i): v for i, v in recs.items()})
    return out, stats["passes"], stats["tokens"]


def main(argv: list[str]) -> None:
    opts = [a for a in argv if not a.startswith(("task=", "repeats=", "baseline_batch="))]
    batch = int(next((a.split("=", 1)[1] for a in argv if a.startswith("baseline_batch=")), "32"))
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
        nv, passes, naive_tokens = metric_by_metric(model, fmt, sets, r.cfg.eval, pad, batch)
        sync(); naive_t.append(time.perf_counter() - t0)
    shared_passes = sum(len(_variants(k, row)) + (k != "holdout") for k, rows in sets.items() for row in rows)
    # Same numbers both ways (the point of sharing is speed, not different results).
    by = {(x["set"], x["id"]): x for x in recs}
    names = {"truth_ratio": "truth_ratio", "rouge": "rouge", "em": "exact_memorization", "es": "extraction_strength"}
    diff = {ours: max(abs(by[k][ours] - v[theirs]) for k, v in nv.items() if theirs in v)
            for theirs, ours in names.items()}
    diff["mia"] = max(abs(by[k]["mia"][a] - v[a]) for k, v in nv.items() for a in M.MIA_ATTACKS if a in v)
    ts, tn = min(shared_t), min(naive_t)
    dev = next(model.parameters()).device
    print(f"device {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'}), task {task}, "
          f"{n_items} items, {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params, "
          f"best of {repeats}")
    print(f"shared : {ts:7.2f} s  {n_items / ts:8.1f} items/s  {agg['_tokens'] / ts:9.0f} tokens/s  "
          f"{shared_passes / n_items:.1f} sequence passes/item (batched {r.cfg.eval.batch_size})")
    print(f"metric by metric: {tn:7.2f} s  {n_items / tn:8.1f} items/s  {naive_tokens / tn:9.0f} tokens/s  "
          f"{passes / n_items:.1f} sequence passes/item (batched {batch})")
    print(f"speed-up {tn / ts:.2f}x; max |difference| per number: "
          + ", ".join(f"{k} {v:.1e}" for k, v in diff.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
