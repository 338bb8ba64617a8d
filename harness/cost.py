"""Compute cost of a run, and its ratio to the cost of retraining (the retain model: exact unlearning).

FLOPs are counted by harness/meter.py (forward 2·|W|·n for each weight matrix that runs; backward
2·|W|·n for each activation gradient and each weight gradient actually computed), for unlearning,
evaluation and the training of the retain model alike, so `cost_vs_retrain` compares like with like
on any device. Wall seconds do not: `time_vs_retrain` is given only when the retain model was trained
on the same type of device as the run (its training record says which; a record from before devices
were recorded says nothing, and the ratio stays empty).
Wall seconds and the run's own peak memory come from the run (harness/runs.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from harness.meter import matmul_params


def retrain_cost(retain_ref: str, meta_name: str, start_model) -> dict | None:
    """What producing the retain model cost, when the harness trained it (its meta file says), and the
    device type it trained on (None when the record predates it). Models trained before FLOPs were
    metered carry tokens only: full fine-tuning then costs exactly 6·|W|·n per matrix, |W| summed over
    the start model's matrices (the same architecture)."""
    meta = Path(retain_ref) / meta_name
    if not meta.exists():
        return None
    t = json.loads(meta.read_text()).get("train")
    if t is None:  # a model the harness converted but did not train (a packaged model's folder)
        return None
    flops = t.get("flops") or 6 * matmul_params(start_model) * t["tokens"]
    return {"retrain_s": t["seconds"], "retrain_flops": flops, "retrain_device": t.get("device_type")}


def cost_record(c: dict, retrain: dict | None, device: torch.device) -> dict:
    """FLOPs, GPU-seconds and the ratios to retraining, from the counts in `c`."""
    unlearn_flops = c.get("flops_forward", 0) + c.get("flops_backward", 0)
    eval_flops = c.get("eval_flops", 0)
    cuda = device.type == "cuda"
    out = {
        "unlearn_flops": unlearn_flops, "eval_flops": eval_flops, "flops": unlearn_flops + eval_flops,
        "device_type": device.type, "device_count": torch.cuda.device_count() if cuda else 1,
        # unlearning on W processes (one GPU each) holds W GPUs; rank 0 alone evaluates
        "gpu_seconds": (c.get("unlearn_s", 0.0) * c.get("processes", 1) + c.get("eval_s", 0.0)) * (1 if cuda else 0),
        "retrain_s": None, "retrain_flops": None, "retrain_device": None, "cost_vs_retrain": None,
        "time_vs_retrain": None,
    }
    if retrain:  # known when the harness trained the retain model itself
        out.update(retrain)
        out["cost_vs_retrain"] = unlearn_flops / retrain["retrain_flops"]
        if retrain.get("retrain_device") == device.type:  # seconds on a GPU and on a CPU do not compare
            out["time_vs_retrain"] = c.get("unlearn_s", 0.0) / retrain["retrain_s"]
    return out
