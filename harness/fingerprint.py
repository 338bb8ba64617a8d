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


DATA_SUFFIXES = (".json", ".jsonl", ".parquet", ".txt", ".csv")
_DIGESTS: dict[tuple, str] = {}  # (path, size, mtime) -> sha256, so a grid hashes each file once


def _file_digest(path: Path) -> str:
    import hashlib
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def data_fingerprint(folder: Path) -> dict:
    """The content of a local dataset folder: every data file's path (relative), size and sha256. Data
    files are small next to models (TOFU: a few MB), so their content is hashed, not their dates."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): [p.stat().st_size, _file_digest(p)]
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in DATA_SUFFIXES}


def input_fingerprints(cfg: RunConfig, task, built_worlds) -> dict:
    """What a run reads from the user's disk, beyond its config: a local dataset folder (not a world the
    harness builds from its config, `built_worlds`), a refusal file, and local model folders (base,
    target, retain, a model evaluated as is). The run id hashes this, so a changed data file or a
    replaced model is a different run, never a stale one reused; provenance.json records it. Hub ids
    are names only (an offline machine cannot ask the hub what they hold). Empty for the default
    benchmark (its data and models are built from the config), so its run ids do not change."""
    out: dict = {}
    ds = cfg.dataset or task.dataset
    if ds not in built_worlds and Path(ds).expanduser().is_dir():
        out["data"] = data_fingerprint(Path(ds).expanduser())
    if cfg.unlearn.refusals and Path(cfg.unlearn.refusals).expanduser().is_file():
        out["refusals"] = _file_digest(Path(cfg.unlearn.refusals).expanduser())
    for role in ("base", "target", "retain", "evaluate"):
        ref = getattr(cfg.model, role)
        if ref and ref != "default" and Path(ref).expanduser().is_dir():
            out[f"model.{role}"] = model_fingerprint(str(Path(ref).expanduser()))
    return out
