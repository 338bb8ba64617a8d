"""One run = one folder results/runs/<run_id>/, run_id derived from the resolved config's hash.

Order matters: everything that can be wrong with the input (config keys and types, task, method and
its arguments, data files and columns) is checked before any model is trained or loaded. The folder
is written atomically; a folder with a status is complete and is skipped on rerun.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import yaml

from harness import adapters
from harness import models as MD
from harness import world
from harness.config import ConfigError, RunConfig, to_dict
from harness.data import load_split
from harness.evaluate import evaluate_sets, mia_aucs, tofu_metrics
from harness.io import atomic_dir, read_jsonl, stable_hash, write_json_atomic, write_jsonl
from harness.prompts import PromptFormatter
from harness.cost import cost_record
from harness.provenance import provenance
from harness.stats import bootstrap
from harness.registry import get_method
from harness.tasks import Task, get_task
from harness.unlearn import Diverged, unlearn


@dataclasses.dataclass
class Resolved:
    cfg: RunConfig
    task: Task
    method: object | None     # registry.Method, or None for method=none (evaluate as is)
    method_cfg: object | None
    run_id: str
    folder: Path


def _positive(name: str, value, allow_zero: bool = False) -> None:
    if value is None or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"config key '{name}': expected a {'non-negative' if allow_zero else 'positive'} number, got {value}")


def resolve(cfg: RunConfig) -> Resolved:
    """Validate and fill defaults; no compute. The run_id hashes the result."""
    cfg = dataclasses.replace(cfg, unlearn=dataclasses.replace(cfg.unlearn))
    task = get_task(cfg.task)
    if cfg.world.profile not in world.PROFILES:
        raise ConfigError(f"world.profile: unknown profile '{cfg.world.profile}'; expected one of "
                          f"{', '.join(world.PROFILES)}")
    if cfg.start == "auto":
        cfg.start = "base" if task.family == "wmdp" else "target"
    if cfg.start not in ("target", "retain", "base"):
        raise ConfigError(f"config key 'start': expected auto, target, retain or base, got '{cfg.start}'")
    if task.family == "wmdp" and cfg.start != "base":
        raise ConfigError(f"task '{task.name}' unlearns the base model: set start=base")
    adapters.check(cfg.adapter)
    lora = cfg.adapter.kind == "lora"
    method = method_cfg = None
    if cfg.method != "none":
        method = get_method(cfg.method)
        if method.requires_adapter and not lora:
            raise ConfigError(f"method '{method.name}' trains LoRA adapters only: set adapter.kind=lora")
        method_cfg = method.parse_args(cfg.method_args)
        cfg.method_args = dataclasses.asdict(method_cfg)
        default_lr = method.lora_lr if (lora and method.lora_lr) else method.lr
        cfg.unlearn.lr = default_lr if cfg.unlearn.lr is None else cfg.unlearn.lr
        cfg.unlearn.epochs = method.epochs if cfg.unlearn.epochs is None else cfg.unlearn.epochs
        if cfg.unlearn.max_grad_norm is None:
            cfg.unlearn.max_grad_norm = method.max_grad_norm
        _positive("unlearn.lr", cfg.unlearn.lr)
        _positive("unlearn.epochs", cfg.unlearn.epochs)
    elif cfg.method_args or lora:
        raise ConfigError("method=none evaluates a model as is: method_args and adapter.kind=lora do not apply")
    for k in ("batch_size", "retain_batch_size"):
        _positive(f"unlearn.{k}", getattr(cfg.unlearn, k))
    _positive("eval.batch_size", cfg.eval.batch_size)
    _positive("eval.max_new_tokens", cfg.eval.max_new_tokens)
    for role in ("base", "target", "retain"):
        ref = getattr(cfg.model, role)
        if ref.startswith(("/", ".", "~")) and not Path(ref).expanduser().exists():
            raise ConfigError(f"config key 'model.{role}': folder '{ref}' does not exist")
    MD.resolve_dtype(cfg.model.dtype, MD.resolve_device(cfg.model.device))  # bad names fail here
    body = to_dict(cfg)
    body.pop("results_dir")
    label = (cfg.method + ("+lora" if lora else "")) if method else cfg.start
    run_id = f"{task.name}-{label}-s{cfg.seed}-{stable_hash({'cfg': body, 'task_version': task.version}, 10)}"
    return Resolved(cfg, task, method, method_cfg, run_id, Path(cfg.results_dir) / "runs" / run_id)


def refusals(source: str, n: int, seed: int) -> list[str]:
    """One refusal answer per forget item: from the dataset's idontknow file when it has one (the
    synthetic world does; TOFU ships data/idontknow.jsonl in its code repository), else built in."""
    import random

    from harness.vocab import REFUSALS
    path = Path(source) / "idontknow.jsonl"
    pool = [r["answer"] if isinstance(r, dict) else str(r) for r in read_jsonl(path)] if path.exists() else REFUSALS
    rng = random.Random(f"idk-{seed}")
    return [rng.choice(pool) for _ in range(n)]


def _check_layer(method_cfg, model) -> None:
    """A method's layer index must exist in this model: checked once the model is known, before any
    unlearning step."""
    layer = getattr(method_cfg, "layer", None)
    if layer is None:
        return
    n = model.config.num_hidden_layers
    if not 0 <= layer < n:
        raise ConfigError(f"config key 'method_args.layer': {layer} is out of range; the model has {n} "
                          f"decoder layers (0..{n - 1})")


def is_complete(folder: Path) -> bool:
    return (folder / "status.json").exists()


def load_data(r: Resolved, source: str) -> dict:
    """Every split the run touches, validated now (before any training)."""
    t = r.task
    if t.family == "wmdp":
        from harness import track_wmdp
        return track_wmdp.load_data(t, source)
    data = {"forget": load_split(source, t.splits.forget), "retain": load_split(source, t.splits.retain)}
    data["eval"] = {kind: load_split(source, split) for kind, split in t.eval.items()}
    data["eval"]["holdout"] = load_split(source, t.splits.holdout)  # membership inference
    return data


def reference_numbers(retain_ref: str, data: dict, cfg: RunConfig) -> dict:
    """The retain model's per-item truth ratios on the forget split and its membership-inference AUCs
    (forget vs holdout), measured by the harness and cached by (retain model, items, eval settings)."""
    forget, holdout = data["eval"]["forget"], data["eval"]["holdout"]
    key = stable_hash({"retain": retain_ref, "meta": _meta_key(retain_ref), "v": 2,
                       "items": [(r["id"], r["question"], r["answer"], r["paraphrased_answer"], r["perturbed_answer"])
                                 for r in forget], "holdout": [(r["question"], r["answer"]) for r in holdout],
                       "eval": to_dict(cfg.eval)})
    path = MD.cache_root() / "reference" / f"{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    model = MD.load_model(retain_ref, cfg.model.dtype, cfg.model.device)
    tok = MD.load_tokenizer(retain_ref)
    fmt = PromptFormatter(tok, cfg.eval.prompt_style, cfg.eval.max_length)
    _, agg = evaluate_sets(model, fmt, {"forget": forget, "holdout": holdout}, cfg.eval, _pad(tok),
                           with_generation=False, progress=False)
    out = {"retain_model": retain_ref, "ratios": agg["forget"]["ratios"], "auc": mia_aucs(agg)}
    write_json_atomic(path, out)
    return out


def _retrain_cost(retain_ref: str) -> dict | None:
    """What producing the retain model cost (the exact-unlearning baseline), when the harness trained it."""
    meta = Path(retain_ref) / MD.META
    if not meta.exists():
        return None
    t = json.loads(meta.read_text())["train"]
    return {"retrain_s": t["seconds"], "retrain_flops": 6 * t["params"] * t["tokens"]}


def _meta_key(ref: str):
    meta = Path(ref) / MD.META
    return json.loads(meta.read_text()).get("key") if meta.exists() else None


def _pad(tok) -> int:
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def execute(r: Resolved, force: bool = False, progress: bool = True) -> str:
    """Run (unlearn + evaluate) and write the folder. Returns 'skipped', 'complete' or 'diverged'."""
    if is_complete(r.folder) and not force:
        return "skipped"
    if r.task.family == "wmdp":
        from harness import track_wmdp
        return track_wmdp.execute(r, progress, write_run)
    cfg = r.cfg
    source = MD.dataset_source(cfg, r.task)
    data = load_data(r, source)
    paths = MD.prepare_models(cfg, r.task, progress)
    reference = reference_numbers(paths["retain"], data, cfg)
    start_ref = paths[cfg.start]
    model = MD.load_model(start_ref, cfg.model.dtype, cfg.model.device)
    tok = MD.load_tokenizer(start_ref)
    fmt = PromptFormatter(tok, cfg.eval.prompt_style, cfg.eval.max_length)
    pad = _pad(tok)
    _check_layer(r.method_cfg, model)
    compute = {"device": str(next(model.parameters()).device), "dtype": str(next(model.parameters()).dtype),
               "params": sum(p.numel() for p in model.parameters()), "unlearn_s": 0.0, "steps": 0,
               "tokens_forward": 0, "tokens_backward": 0, "trainable_params": 0}
    status, log, error = "complete", [], None
    if r.method is not None:
        forget = [fmt.encode(x["question"], x["answer"]) for x in data["forget"]]
        retain = [fmt.encode(x["question"], x["answer"]) for x in data["retain"]]
        idk = None
        if r.method.needs & {"idk", "ref_idk"}:
            idk = [fmt.encode(x["question"], a) for x, a in zip(data["forget"], refusals(source, len(forget), cfg.seed))]
        model = adapters.apply(model, cfg.adapter, cfg.seed)
        try:
            st = unlearn(model, r.method, r.method_cfg, forget, retain, cfg.unlearn, cfg.seed, pad, progress,
                         idk=idk)
            log = st.log
            compute.update(unlearn_s=st.seconds, steps=st.steps, tokens_forward=st.tokens_forward,
                           tokens_backward=st.tokens_backward, trainable_params=st.trainable_params)
        except Diverged as e:
            status, error = "diverged", str(e)
    metrics, items = {}, []
    if status == "complete":
        t0 = time.perf_counter()
        items, agg = evaluate_sets(model, fmt, data["eval"], cfg.eval, pad, progress=progress)
        metrics = tofu_metrics(agg, reference)
        compute["eval_s"] = time.perf_counter() - t0
        compute["tokens_eval"] = agg["_tokens"]
        forget_items = [i for i in items if i["set"] == "forget"]
        for rec, ref in zip(forget_items, reference["ratios"]):
            rec["retain_model_truth_ratio"] = ref
        for m, ci in bootstrap(items, reference["ratios"], cfg.eval.bootstrap, cfg.seed).items():
            metrics[f"{m}_ci"] = ci
    write_run(r, model, tok, metrics, items, log, compute, paths, status, error, _retrain_cost(paths["retain"]))
    return status


def write_run(r: Resolved, model, tok, metrics, items, log, compute, paths, status, error, retrain) -> None:
    """Write the run folder in one atomic rename: config, task, metrics, items, log, compute,
    provenance, the model (when asked) and, last, the status that marks it complete."""
    cfg = r.cfg
    compute.update(cost_record(compute, retrain, next(model.parameters()).device))
    with atomic_dir(r.folder) as tmp:
        (tmp / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        (tmp / "task.yaml").write_text(Path(r.task.path).read_text())
        write_json_atomic(tmp / "metrics.json", metrics)
        write_jsonl(tmp / "items.jsonl", items)
        write_jsonl(tmp / "train_log.jsonl", log)
        write_json_atomic(tmp / "compute.json", compute)
        write_json_atomic(tmp / "provenance.json", provenance(cfg.seed, {"models": paths}))
        if status == "complete" and r.method is not None and cfg.unlearn.save_model:
            adapters.save(model, tmp / "model", cfg.adapter)
            tok.save_pretrained(tmp / "model")
        write_json_atomic(tmp / "status.json", {"status": status, "error": error, "run_id": r.run_id})
