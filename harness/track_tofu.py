"""The fictitious-author track (TOFU): question-answer pairs of whole authors to forget.

What the run pipeline (harness/runs.py) asks of a track:
- `load_data`: every split the run touches, validated before any model is trained;
- `reference`: the numbers of a model that never saw the forget set, measured by the harness and
  cached under a key of everything that made them;
- `training_sets`: the forget and retain examples the unlearning loop sees;
- `evaluate`: metrics and per-item records of a model.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from harness import models as MD
from harness.claim import claimed
from harness.config import RunConfig, to_dict
from harness.data import load_refusals, load_split
from harness.evaluate import aligned, evaluate_sets, mia_aucs, tofu_metrics
from harness.io import stable_hash, write_json_atomic
from harness.meter import FlopMeter
from harness.prompts import PromptFormatter
from harness.stats import bootstrap

REFUSALS = True           # question-answer data: IdkDPO's refusal answers make sense here
REFERENCE_VERSION = 3     # bump when the evaluator changes what a cached reference number would be


def load_data(task, source: str, cfg: RunConfig, needs_refusals: bool = False) -> dict:
    t = task
    data = {"forget": load_split(source, t.splits.forget), "retain": load_split(source, t.splits.retain)}
    data["eval"] = {kind: load_split(source, split) for kind, split in t.eval.items()}
    data["eval"]["holdout"] = load_split(source, t.splits.holdout)  # membership inference
    if needs_refusals:
        data["refusals"], data["refusals_file"] = load_refusals(source, cfg.unlearn.refusals)
    return data


def training_sets(fmt: PromptFormatter, data: dict):
    forget = [fmt.encode(x["question"], x["answer"]) for x in data["forget"]]
    retain = [fmt.encode(x["question"], x["answer"]) for x in data["retain"]]
    return forget, retain


def refusal_set(fmt: PromptFormatter, data: dict, seed: int):
    """One refusal answer to each forget question, drawn (seeded) from the refusal pool."""
    import random
    rng = random.Random(f"idk-{seed}")
    return [fmt.encode(x["question"], rng.choice(data["refusals"])) for x in data["forget"]]


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


def reference_key(retain_ref: str, data: dict, cfg: RunConfig) -> str:
    forget, holdout = data["eval"]["forget"], data["eval"]["holdout"]
    return stable_hash({"v": REFERENCE_VERSION, "retain": retain_ref, "weights": model_fingerprint(retain_ref),
                        "precision": precision_key(cfg), "eval": to_dict(cfg.eval),
                        "items": [(r["id"], r["question"], r["answer"], r["paraphrased_answer"], r["perturbed_answer"])
                                  for r in forget],
                        "holdout": [(r["id"], r["question"], r["answer"]) for r in holdout]})


def reference(task, paths: dict, data: dict, cfg: RunConfig) -> dict:
    """The retain model's per-item log truth ratios on the forget split (by item id) and its
    membership-inference AUCs (forget vs holdout). Cached by the retain model's identity, the items,
    the evaluation settings, dtype, device and library versions."""
    retain_ref = paths["retain"]
    forget, holdout = data["eval"]["forget"], data["eval"]["holdout"]
    path = MD.cache_root() / "reference" / f"{reference_key(retain_ref, data, cfg)}.json"
    if not path.exists():
        with claimed(path):
            if not path.exists():
                write_json_atomic(path, _measure_reference(retain_ref, forget, holdout, cfg))
    return json.loads(path.read_text())


def _measure_reference(retain_ref: str, forget: list, holdout: list, cfg: RunConfig) -> dict:
    model = MD.load_model(retain_ref, cfg.model.dtype, cfg.model.device)
    tok = MD.load_tokenizer(retain_ref)
    fmt = PromptFormatter(tok, cfg.eval.prompt_style, cfg.eval.max_length)
    _, agg = evaluate_sets(model, fmt, {"forget": forget, "holdout": holdout}, cfg.eval, MD.pad_id(tok),
                           with_generation=False, progress=False)
    return {"retain_model": retain_ref, "log_ratios": agg["forget"]["log_ratios"], "auc": mia_aucs(agg)}


def evaluate(model, tok, fmt: PromptFormatter, task, data: dict, ref: dict, cfg: RunConfig, progress: bool):
    """(metrics, per-item records, cost) of `model` on the task's evaluation sets."""
    t0 = time.perf_counter()
    with FlopMeter(model) as meter:
        items, agg = evaluate_sets(model, fmt, data["eval"], cfg.eval, MD.pad_id(tok), progress=progress)
    metrics = tofu_metrics(agg, ref)
    forget_items = [i for i in items if i["set"] == "forget"]
    theirs = aligned([i["id"] for i in forget_items], ref["log_ratios"], "the retain model's truth ratios")
    for rec, lr in zip(forget_items, theirs):
        rec["retain_model_log_truth_ratio"] = lr
    for m, ci in bootstrap(items, theirs, cfg.eval.bootstrap, cfg.seed).items():
        metrics[f"{m}_ci"] = ci
    cost = {"eval_s": time.perf_counter() - t0, "tokens_eval": agg["_tokens"], "eval_flops": meter.total}
    return metrics, items, cost
