"""What cached reference numbers are keyed by, beyond their inputs: the identity of the model's
weights and the numeric setting (dtype, device, library versions) they were computed in. A bf16 GPU
run must never reuse fp32 CPU numbers, and a retrained model must never reuse its predecessor's."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from harness import models as MD
from harness.config import RunConfig


def model_fingerprint(ref: str) -> dict:
    """What identifies a model's weights: the harness's own training key when it trained the model,
    else the files of a local folder (names, sizes, modification times), else the hub id."""
    folder = Path(ref)
    meta = folder / MD.META
    if meta.exists():
        return {"key": json.loads(meta.read_text()).get("key")}
    if folder.is_dir():
        return {"files": sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in folder.iterdir()
                                if p.is_file())}
    return {"id": ref}


def precision_key(cfg: RunConfig) -> dict:
    """Everything numeric results depend on beyond the weights: the dtype and device actually used,
    and the versions of the kernels' libraries."""
    dev = MD.resolve_device(cfg.model.device)
    return {"dtype": str(MD.resolve_dtype(cfg.model.dtype, dev)), "device": dev.type,
            "torch": torch.__version__, "transformers": __import__("transformers").__version__}
