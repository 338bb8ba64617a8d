"""Save as you go: the unlearned model and its train log are staged before evaluation starts, so a
crash (or a preemption) during evaluation never loses the unlearning. Running the same run again
(`run`, `grid`) finds the stage, restores the weights and the statistics, skips the unlearning and
only evaluates; the finished run folder replaces the stage.

The stage is results/runs/.<run_id>.unlearned/ (hidden, next to the run folder): weights.pt (the
parameters unlearning could change: every parameter under full fine-tuning; under LoRA the adapter's
and the frozen ones a method's set-up changed, UnlearnStats.base_changed (LoKU's); restored into the
same start model, so the evaluation sees exactly the model it would have seen),
train_log.jsonl, stats.json, and STAGED written last. It is written in one atomic rename, under the
run's claim.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import torch

from harness.adapters import is_adapter
from harness.io import atomic_dir, read_jsonl, write_json_atomic, write_jsonl
from harness.unlearn import UnlearnStats


def stage_dir(run_folder: Path) -> Path:
    return run_folder.parent / f".{run_folder.name}.unlearned"


def _changed(model, lora: bool, base_changed=()) -> dict[str, torch.Tensor]:
    keep = set(base_changed)
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters()
            if not lora or is_adapter(n) or n in keep}


def save(run_folder: Path, model, stats: UnlearnStats, lora: bool) -> Path:
    out = stage_dir(run_folder)
    with atomic_dir(out) as tmp:
        torch.save(_changed(model, lora, stats.base_changed), tmp / "weights.pt")
        write_jsonl(tmp / "train_log.jsonl", stats.log)
        write_json_atomic(tmp / "stats.json", {k: v for k, v in dataclasses.asdict(stats).items() if k != "log"})
        (tmp / "STAGED").write_text("ok\n")
    return out


def load(run_folder: Path, model) -> UnlearnStats | None:
    """Restore a staged model into `model` (the start model, adapters applied) and return the
    unlearning statistics; None when there is no complete stage."""
    src = stage_dir(run_folder)
    if not (src / "STAGED").exists():
        return None
    weights = torch.load(src / "weights.pt", map_location="cpu", weights_only=True)
    params = dict(model.named_parameters())
    unknown = [n for n in weights if n not in params]
    if unknown:  # a stage that does not fit this model is not this run's: ignore it
        return None
    with torch.no_grad():
        for n, t in weights.items():
            params[n].copy_(t.to(params[n].device, params[n].dtype))
    stats = UnlearnStats(**json.loads((src / "stats.json").read_text()))
    stats.log = read_jsonl(src / "train_log.jsonl")
    return stats


def clear(run_folder: Path) -> None:
    shutil.rmtree(stage_dir(run_folder), ignore_errors=True)
