"""Reference numbers: what a model other than the evaluated one scores (the retain model's truth
ratios and membership-inference AUCs, the base model's accuracies, a control model under an attack),
measured once and cached by everything that made them. One recipe for every family and attack:

    numbers = cached("muse-", {**measured_on("retain", path, cfg, VERSION), "texts": ...}, measure)

The key holds the model's identity (its training key or files: harness/fingerprint.py), the numeric
setting (dtype, device, library versions), the evaluation settings and whatever items were scored, so
a bf16 GPU run never reuses fp32 CPU numbers and a retrained model never its predecessor's. Claimed
while measured (harness/claim.py): processes that need the same numbers wait for one to write them.
"""
from __future__ import annotations

import json

from harness import models as MD
from harness.claim import build_once
from harness.config import RunConfig, to_dict
from harness.fingerprint import model_fingerprint, precision_key
from harness.io import stable_hash, write_json_atomic


def measured_on(role: str, ref: str, cfg: RunConfig, version: int) -> dict:
    """The part of a key every reference number has: the recipe's version, the model (under the name
    of its role: "retain", "base", "model") and its weights, the numeric setting and eval settings."""
    return {"v": version, role: ref, "weights": model_fingerprint(ref), "precision": precision_key(cfg),
            "eval": to_dict(cfg.eval)}


def cached(prefix: str, body: dict, measure) -> dict:
    """The numbers `measure()` returns (a JSON-able dict), stored once under
    <cache>/reference/<prefix><hash of body>.json and read from there ever after."""
    path = MD.cache_root() / "reference" / f"{prefix}{stable_hash(body)}.json"
    build_once(path, path, lambda: write_json_atomic(path, measure()))
    return json.loads(path.read_text())
