"""Compute cost of a run, and its ratio to the cost of retraining (the retain model, exact unlearning).

FLOPs are the usual estimates: 2 * N * tokens for a forward pass, 4 * N * tokens for the backward
pass, so 6 * N * tokens for a training step, N the model's parameters (under LoRA the backward pass
still runs through the whole network, so N stays the full count).
"""
from __future__ import annotations

import torch

from harness.provenance import peak_rss_mb


def cost_record(c: dict, retrain: dict | None, device: torch.device) -> dict:
    n = c["params"]
    unlearn_flops = 2 * n * c["tokens_forward"] + 4 * n * c["tokens_backward"]
    eval_flops = 2 * n * c.get("tokens_eval", 0)
    cuda = device.type == "cuda"
    out = {
        "unlearn_flops": unlearn_flops, "eval_flops": eval_flops, "flops": unlearn_flops + eval_flops,
        "peak_mem_mb": peak_rss_mb(),
        "gpu_peak_mem_mb": torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None,
        "device_type": device.type, "device_count": torch.cuda.device_count() if cuda else 1,
        "gpu_seconds": (c["unlearn_s"] + c.get("eval_s", 0.0)) * (1 if cuda else 0),
        "retrain_s": None, "retrain_flops": None, "cost_vs_retrain": None, "time_vs_retrain": None,
    }
    if retrain:  # known when the harness trained the retain model itself
        out.update(retrain)
        out["cost_vs_retrain"] = unlearn_flops / retrain["retrain_flops"]
        out["time_vs_retrain"] = c["unlearn_s"] / retrain["retrain_s"]
    return out
