"""The hazardous-knowledge track (WMDP-style): unlearn a corpus from the base model, measure
multiple-choice accuracy on hazard and general questions through lm-eval.

The run folder has the same files as a TOFU run (runs.write_run). The base model's accuracies are
measured by the harness (and cached) so each run reports its drops from the base.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from harness import adapters
from harness import models as MD
from harness.io import stable_hash, write_json_atomic, write_text_atomic
from harness.mcq import accuracy, load_corpus, load_mcq, local_task_yaml
from harness.prompts import PromptFormatter
from harness.unlearn import Diverged, unlearn


def load_data(task, source: str) -> dict:
    """Corpora and (local) MCQ files, validated before any training."""
    folder = Path(source)
    data = {"forget": load_corpus(folder / f"{task.splits.forget}.jsonl"),
            "retain": load_corpus(folder / f"{task.splits.retain}.jsonl"), "mcq": {}}
    if not task.lm_eval_tasks:
        for kind, stem in task.eval.items():
            path = folder / f"{stem}.jsonl"
            load_mcq(path)
            data["mcq"][kind] = path
    return data


def lm_eval_tasks(task, data) -> tuple[Path | None, dict[str, list[str]]]:
    """(include path, kind -> task names): lm-eval task files written for local MCQ data, or the
    task's real lm-eval names (found among lm-eval's built-in tasks)."""
    if task.lm_eval_tasks:
        return None, {k: list(v) for k, v in task.lm_eval_tasks.items()}
    files = {kind: str(p.resolve()) for kind, p in data["mcq"].items()}
    folder = MD.cache_root() / "lm_eval_tasks" / stable_hash(files)
    names = {}
    for kind, path in files.items():
        name = f"{task.name}_{kind}"
        write_text_atomic(folder / f"{name}.yaml", local_task_yaml(name, Path(path)))
        names[kind] = [name]
    return folder, names


def accuracies(model, tok, task, data, cfg) -> dict[str, float]:
    include, names = lm_eval_tasks(task, data)
    flat = [n for v in names.values() for n in v]
    acc = accuracy(model, tok, include, flat, batch_size=cfg.eval.batch_size, max_length=cfg.eval.max_length)
    return {kind: sum(acc[n] for n in v) / len(v) for kind, v in names.items()}


def base_accuracies(base_ref: str, task, data, cfg) -> dict[str, float]:
    """The starting model's accuracies, measured once and cached by (model, task data, settings)."""
    key = stable_hash({"base": base_ref, "task": task.name, "v": task.version, "eval": cfg.eval.__dict__,
                       "mcq": {k: str(v) for k, v in data["mcq"].items()}})
    path = MD.cache_root() / "reference" / f"wmdp-{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    model = MD.load_model(base_ref, cfg.model.dtype, cfg.model.device)
    out = accuracies(model, MD.load_tokenizer(base_ref), task, data, cfg)
    write_json_atomic(path, out)
    return out


def execute(r, progress: bool, write_run) -> str:
    cfg = r.cfg
    source = MD.dataset_source(cfg, r.task)
    data = load_data(r.task, source)
    paths = MD.prepare_models(cfg, r.task, progress)
    base = base_accuracies(paths["base"], r.task, data, cfg)
    model = MD.load_model(paths["base"], cfg.model.dtype, cfg.model.device)
    tok = MD.load_tokenizer(paths["base"])
    fmt = PromptFormatter(tok, cfg.eval.prompt_style, cfg.eval.max_length)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    compute = {"device": str(next(model.parameters()).device), "dtype": str(next(model.parameters()).dtype),
               "params": sum(p.numel() for p in model.parameters()), "unlearn_s": 0.0, "steps": 0,
               "tokens_forward": 0, "tokens_backward": 0, "trainable_params": 0}
    status, log, error, metrics = "complete", [], None, {}
    if r.method is not None:
        forget = [fmt.encode("", d) for d in data["forget"]]  # documents: every token is scored
        retain = [fmt.encode("", d) for d in data["retain"]]
        model = adapters.apply(model, cfg.adapter, cfg.seed)
        try:
            st = unlearn(model, r.method, r.method_cfg, forget, retain, cfg.unlearn, cfg.seed, pad, progress)
            log = st.log
            compute.update(unlearn_s=st.seconds, steps=st.steps, tokens_forward=st.tokens_forward,
                           tokens_backward=st.tokens_backward, trainable_params=st.trainable_params)
        except Diverged as e:
            status, error = "diverged", str(e)
    if status == "complete":
        t0 = time.perf_counter()
        acc = accuracies(model, tok, r.task, data, cfg)
        compute["eval_s"] = time.perf_counter() - t0
        metrics = {"hazard_acc": acc["hazard"], "general_acc": acc["general"],
                   "hazard_acc_drop": base["hazard"] - acc["hazard"],
                   "general_acc_drop": base["general"] - acc["general"],
                   "base_hazard_acc": base["hazard"], "base_general_acc": base["general"]}
    write_run(r, model, tok, metrics, [], log, compute, paths, status, error, retrain=None)
    return status
