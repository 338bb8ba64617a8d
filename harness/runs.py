"""One run = one folder results/runs/<run_id>/, run_id derived from the resolved config's hash.

The pipeline, top to bottom: validate -> claim -> data -> models -> reference numbers -> unlearn ->
stage (harness/stage.py: the unlearned model is saved before evaluation) -> evaluate -> folder. The
unlearning step, with its requests and curve, is harness/unlearning.py.
Everything that can be wrong with the input (config keys, types and ranges, task,
method and its arguments, data files and columns) is checked before any model is trained or loaded.
A run is claimed (harness/claim.py) so two processes never compute it at once; the folder is
written atomically, and a folder with a status is complete and is skipped on rerun.
Launched on several processes (torchrun, accelerate launch), rank 0 does all of this and the others
only unlearn along with it (`_follow`; harness/distributed.py, docs/distributed.md).
"""
from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path

import yaml

from harness import adapters, curves, sharded, stage, unlearning
from harness import distributed as dist
from harness import models as MD
from harness.claim import Claim, remove_orphans
from harness import forms
from harness.config import ConfigError, RunConfig, UnlearnConfig, from_dict, identity, to_dict, validate
from harness.cost import cost_record, retrain_cost
from harness.io import atomic_dir, portable, stable_hash, write_json_atomic, write_jsonl
from harness.meter import PeakMemory, matmul_params
from harness.progress import say
from harness.prompts import PromptFormatter
from harness.fingerprint import input_fingerprints
from harness.provenance import provenance
from harness.registry import get_method
from harness.tasks import Task, get_task, resolved_yaml
from harness.tensors import fused_available, label_path, label_path_name
from harness.tracks import get_track, lacks
from harness.unlearn import Diverged


@dataclasses.dataclass
class Resolved:
    cfg: RunConfig
    task: Task
    method: object | None     # registry.Method, or None for method=none (evaluate as is)
    method_cfg: object | None
    run_id: str
    folder: Path
    form: object | None = None      # forms.* plug-in (sisa, incontext, dp) when `method` names a form
    form_cfg: object | None = None
    inputs: dict = dataclasses.field(default_factory=dict)  # fingerprints of local data and models it reads

    @property
    def track(self):
        """The plug-in that knows the task family's data, reference numbers and evaluation."""
        return get_track(self.task.family)


def model_label(ref: str) -> str:
    """A readable name for an evaluated model: a saved run's model folder is named by its run."""
    p = Path(ref)
    name = f"{p.parent.name}/{p.name}" if p.name in ("model", "checkpoint", "final") and p.parent.name else p.name
    return name or ref


def resolve(cfg: RunConfig) -> Resolved:
    """Validate and fill defaults; no compute. The run_id hashes the result."""
    cfg = copy.deepcopy(cfg)
    task = get_task(cfg.task)
    track = get_track(task.family)
    if cfg.start == "auto":
        cfg.start = track.start
    if cfg.start not in track.roles:
        raise ConfigError(f"task '{task.name}' has no {cfg.start} model (family {task.family} prepares "
                          f"{', '.join(track.roles)}): set start={track.start}")
    lora = cfg.adapter.kind == "lora"
    method = method_cfg = form = form_cfg = None
    if forms.is_form(cfg.method):  # another form of unlearning (harness/forms/): not a loss
        form = forms.get_form(cfg.method)
        if missing := lacks(form, track):
            raise ConfigError(f"method '{form.name}' does not apply to task family {task.family} (task {task.name}): "
                              f"it needs {'; '.join(missing)}")
        if lora or cfg.model.evaluate:
            raise ConfigError(f"method '{form.name}' produces its own model: adapter.kind=lora and model.evaluate "
                              f"do not apply (its own settings are method_args)")
        form_cfg = from_dict(form.Config, cfg.method_args or {}, where="method_args")
        cfg.method_args = dataclasses.asdict(form_cfg)
        _reset_curve(cfg.unlearn)
    elif cfg.method != "none":
        method = get_method(cfg.method, also=forms.load_forms)
        if method.requires_adapter and not lora:
            raise ConfigError(f"method '{method.name}' trains LoRA adapters only: set adapter.kind=lora")
        if method.needs & {"idk", "ref_idk"} and not track.refusals:
            raise ConfigError(f"method '{method.name}' needs refusal answers to questions; task '{task.name}' "
                              f"unlearns documents")
        if cfg.model.evaluate:
            raise ConfigError("model.evaluate names a model to evaluate as is: it needs method=none")
        method_cfg = method.parse_args(cfg.method_args)
        cfg.method_args = dataclasses.asdict(method_cfg)
        default_lr = method.lora_lr if (lora and method.lora_lr) else method.lr
        cfg.unlearn.lr = default_lr if cfg.unlearn.lr is None else cfg.unlearn.lr
        cfg.unlearn.epochs = method.epochs if cfg.unlearn.epochs is None else cfg.unlearn.epochs
        if cfg.unlearn.max_grad_norm is None:
            cfg.unlearn.max_grad_norm = method.max_grad_norm
    elif cfg.method_args or lora:
        raise ConfigError("method=none evaluates a model as is: method_args and adapter.kind=lora do not apply")
    else:  # nothing is unlearned, so there is no curve: a grid's curve keys leave its reference rows' ids alone
        _reset_curve(cfg.unlearn)
    if not _seeded(method, form, form_cfg):  # nothing random: seeds [0, 1, 2] are one run, counted once
        cfg.seed = 0
    validate(cfg)  # one pass over every field, defaults filled in
    curves.check(cfg.unlearn, track, task.name)
    if curves.held_out(cfg.unlearn) and task.requests:
        raise ConfigError(f"config key 'unlearn.select_on': held_out is not supported with sequential requests "
                          f"(task {task.name}): set unlearn.select_on=evaluated")
    for role in ("base", "target", "retain", "evaluate"):
        ref = getattr(cfg.model, role)
        if ref.startswith(("/", ".", "~")) and not Path(ref).expanduser().exists():
            raise ConfigError(f"config key 'model.{role}': folder '{ref}' does not exist")
        if ref and ref != "default" and Path(ref).expanduser().is_dir():
            _check_model_folder(Path(ref).expanduser(), role)
    if sharded.requested_by_launcher():  # accelerate launch --use_fsdp
        cfg.unlearn.fsdp = True
    device = MD.resolve_device(cfg.model.device)  # no GPU for cuda: fails here
    MD.resolve_dtype(cfg.model.dtype, device)
    if cfg.model.label_logprobs == "fused" and (device.type != "cuda" or not fused_available()):
        raise ConfigError("model.label_logprobs=fused needs a CUDA device and liger-kernel (pip install "
                          "liger-kernel); use chunked (the same numbers, any device)")
    body = identity(to_dict(cfg))
    inputs = input_fingerprints(cfg, task, track.worlds)
    if inputs:  # local data or models: a changed file is a different run (harness/fingerprint.py)
        body["inputs"] = inputs
    if form:
        label = form.label(form_cfg)
    elif method:
        label = cfg.method + ("+lora" if lora else "")
    elif cfg.model.evaluate:
        label = "eval-" + re.sub(r"[^A-Za-z0-9_.+-]", "_", model_label(cfg.model.evaluate))[-60:]
    else:
        label = cfg.start
    run_id = f"{task.name}-{label}-s{cfg.seed}-{stable_hash({'cfg': body, 'task_version': task.version}, 10)}"
    return Resolved(cfg, task, method, method_cfg, run_id, Path(cfg.results_dir) / "runs" / run_id, form, form_cfg,
                    inputs)


def _check_model_folder(folder: Path, role: str) -> None:
    """A local model folder holds a model (a config.json, a LoRA adapter, or an ensemble's manifest);
    a run folder given instead (`eval results/runs/<id>`) is named as such, with where its model is."""
    from harness.ensemble import is_ensemble
    if (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file() or is_ensemble(str(folder)):
        return
    if (folder / "status.json").is_file() or (folder / "config.yaml").is_file():
        where = (f"its model is {folder / 'model'}" if (folder / "model").is_dir()
                 else "it saved no model (unlearn.save_model=false, or a reference row)")
        raise ConfigError(f"config key 'model.{role}': '{folder}' is a run folder, not a model: {where}")
    raise ConfigError(f"config key 'model.{role}': '{folder}' holds no model (no config.json, adapter_config.json "
                      f"or ensemble manifest)")


def _seeded(method, form, form_cfg) -> bool:
    """Whether a run's outcome depends on its seed. A model evaluated as is (method=none: a reference
    row, `eval`) and a form that declares itself deterministic (the in-context form's pretend policy)
    give the same numbers under every seed: their seed is 0, so a grid's seeds count them once instead
    of showing identical "replicates" with a spread of 0."""
    if form is not None:
        return bool(getattr(form, "seeded", lambda c: True)(form_cfg))
    return method is not None


def _reset_curve(u: UnlearnConfig) -> None:
    """No unlearning loop, so no curve: a grid's curve keys leave such rows' ids alone."""
    d = UnlearnConfig()
    u.curve_every, u.curve_items, u.select, u.select_floor = d.curve_every, d.curve_items, d.select, d.select_floor
    u.select_on = d.select_on


def split_for_selection(r: Resolved, data: dict, source: str) -> tuple[dict, dict]:
    """(what the unlearning curve measures, what the run is scored on). The same data, unless the rule
    chooses a step on held-out items (unlearn.select_on=held_out): then the track splits its forget
    units in two (TOFU: authors; the curve gets one half and retain items the evaluation does not score,
    the evaluation the other half), so the step is never chosen on the items the run reports."""
    if not curves.held_out(r.cfg.unlearn):
        return data, data
    return r.track.selection_split(data, source, r.task.name)


def check_form(r: Resolved, data: dict) -> None:
    """The form's own checks of the run's data (e.g. more shards than authors): before any compute."""
    if r.form is not None:
        r.form.check(r.form_cfg, r, data, MD.dataset_source(r.cfg, r.task))


def load_data(r: Resolved, source: str | None = None) -> dict:
    """Every split and file the run touches, validated now (before any training)."""
    needs_refusals = bool(r.method and r.method.needs & {"idk", "ref_idk"})
    return r.track.load_data(r.task, source or MD.dataset_source(r.cfg, r.task), r.cfg, needs_refusals)


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


def execute(r: Resolved, force: bool = False, progress: bool = True, wait: bool = False) -> str:
    """Run (unlearn + evaluate) and write the folder. Returns 'skipped' (complete already), 'claimed'
    (another live process is computing it), 'complete' or 'diverged'. With `wait` (a single `run` or
    `eval`), a run another process is computing is waited for instead of left to it: the command then
    ends with that run complete (or computes it, if its holder died first). Launched on several
    processes, rank 0 decides and tells the others (dist.Word), who return what it said or how their
    part ended."""
    dist.setup(MD.resolve_device(r.cfg.model.device))
    if not dist.is_main():
        return _follow(r)
    with dist.Word() as word:
        if is_complete(r.folder) and not force:
            say(f"  skipped: complete already in {r.folder} (--force computes it again)")
            word.say("skipped")
            return "skipped"
        lock_dir = r.folder.parent.parent / ".claims"
        claim = Claim(r.folder, lock_dir=lock_dir)
        claim.acquire()
        if not claim.held and wait:
            say(f"  {claim.holder} is computing this run: waiting for it")
            claim = Claim(r.folder, lock_dir=lock_dir, wait=True)
            claim.acquire()
        try:
            if not claim.held:
                say(f"  claimed by {claim.holder}: left to it")
                word.say("claimed")
                return "claimed"
            if is_complete(r.folder) and not force:  # finished by another process while we looked
                say(f"  skipped: computed by another process meanwhile, in {r.folder}")
                word.say("skipped")
                return "skipped"
            remove_orphans(r.folder)
            return _compute(r, progress, word)
        finally:
            claim.release()


def _follow(r: Resolved) -> str:
    """A process other than rank 0: unlearn along with it when it says so (same start model, same
    global batches, its own part of each), then leave evaluation and the folder to rank 0."""
    word = dist.hear()
    if word["status"] == "failed":
        raise RuntimeError(f"rank 0 stopped before unlearning: {word['error']}")
    if word["status"] != "go":  # skipped, claimed, or rank 0 goes on alone (nothing to unlearn)
        return "complete" if word["status"] == "alone" else word["status"]
    cfg = r.cfg
    data = load_data(r, word["source"])
    curve_data = split_for_selection(r, data, word["source"])[0]  # every process measures a sharded curve
    device = MD.resolve_device(cfg.model.device)
    with label_path(cfg.model.label_logprobs, cfg.model.logits_chunk, device):
        model = unlearning.start_model(cfg, word["start"])
        tok = MD.load_tokenizer(word["start"])
        fmt = PromptFormatter(tok, cfg.eval.prompt_style, cfg.eval.max_length)
        try:
            unlearning.unlearn_requests(r, model, tok, fmt, data, None, False, [], word["start"], curve_data)
        except Diverged:
            return "diverged"
    return "complete"


def _compute(r: Resolved, progress: bool, word: dist.Word) -> str:
    cfg, track = r.cfg, r.track
    source = MD.dataset_source(cfg, r.task)
    data = load_data(r, source)
    curve_data, scored = split_for_selection(r, data, source)
    paths = MD.prepare_models(cfg, r.task, progress)
    ref = track.reference(r.task, paths, scored, cfg)
    start_ref = cfg.model.evaluate or paths[cfg.start]
    device = MD.resolve_device(cfg.model.device)
    with PeakMemory(device) as mem, label_path(cfg.model.label_logprobs, cfg.model.logits_chunk, device):
        model = MD.load_model(start_ref, cfg.model.dtype, cfg.model.device)
        tok = MD.load_tokenizer(start_ref)
        fmt = PromptFormatter(tok, cfg.eval.prompt_style, cfg.eval.max_length)
        _check_layer(r.method_cfg, model)
        if r.method is None:  # nothing to unlearn (a reference row, another form): rank 0 alone
            word.say("alone")
        p = next(model.parameters())
        compute = {"device": str(p.device), "dtype": str(p.dtype), "params": sum(q.numel() for q in model.parameters()),
                   "matmul_params": matmul_params(model), "unlearn_s": 0.0, "steps": 0, "tokens_forward": 0,
                   "tokens_backward": 0, "trainable_params": 0, "flops_forward": 0, "flops_backward": 0,
                   "label_logprobs": label_path_name()}
        retrain = retrain_cost(paths["retain"], MD.META, model) if "retain" in paths else None
        status, log, error, metrics, items, curve, warnings = "complete", [], None, {}, [], [], []
        requests = []  # with task.requests: the metrics after each request
        produced = ctx = None
        if r.form is not None:  # another form of unlearning makes the model to evaluate (harness/forms/)
            ctx = forms.FormContext(r, data, paths, ref, tok, fmt, progress, model)
            produced = r.form.produce(ctx)
            model, fmt = produced.model, produced.fmt
            p = next(model.parameters())
            compute.update(params=sum(q.numel() for q in model.parameters()), matmul_params=matmul_params(model),
                           **produced.compute)
        if r.method is not None:
            model = adapters.apply(model, cfg.adapter, cfg.seed)  # as unlearning.start_model builds it
            st = stage.load(r.folder, model)  # unlearned before, evaluation never finished
            word.say("alone" if st is not None else "go", start=start_ref, source=source)
            if st is not None:
                model.eval()
                requests = st.requests
                say(f"  unlearned model restored from {stage.stage_dir(r.folder)}: evaluating only")
            else:
                try:
                    st, model = unlearning.unlearn_requests(r, model, tok, fmt, data, ref, progress, requests,
                                                            start_ref, curve_data)
                    stage.save(r.folder, model, st, lora=cfg.adapter.kind == "lora")
                except Diverged as e:
                    status, error, st = "diverged", str(e), e.stats
            log, curve = st.log, st.curve
            compute.update(unlearn_s=st.seconds, steps=st.steps, tokens_forward=st.tokens_forward,
                           tokens_backward=st.tokens_backward, trainable_params=st.trainable_params,
                           flops_forward=st.flops_forward, flops_backward=st.flops_backward, processes=st.processes,
                           **st.curve_info)
            if sharded.active(cfg.unlearn):
                compute["fsdp"] = True  # unlearned sharded (harness/sharded.py)
        if status == "complete":
            say(f"  evaluating {_n_items(scored)} items of {r.task.name}")
            metrics, items, cost = track.evaluate(model, tok, fmt, r.task, scored, ref, cfg, progress)
            compute.update(cost)
            if produced is not None and produced.post is not None:
                ctx.items = items  # the per-item records the form's post hook may amend (harness/forms/__init__.py)
                metrics = produced.post(metrics, ctx)
            warnings = metrics.pop("warnings", [])  # what a reader must know (status.json, the page)
            if requests:
                requests[-1]["metrics"] = metrics  # the last request's numbers are the run's
    compute.update(mem.record(), memory_method=mem.method)
    compute.setdefault("processes", 1)  # unlearned by one process unless the stats say more
    compares = r.method is not None or (produced is not None and produced.retrain_ratio)
    compute.update(cost_record(compute, retrain if compares else None, p.device))
    # paths as portable() records them: a results folder moved to another machine still says what it means
    extra = {"models": {k: portable(v) for k, v in paths.items()}, "evaluated": portable(start_ref), "inputs": r.inputs}
    if "refusals_file" in data:
        extra["refusals_file"] = portable(data["refusals_file"])
    write_run(r, model, tok, metrics, items, log, compute, extra, status, error, requests, curve, produced, warnings,
              base_changed=st.base_changed if r.method is not None else ())
    stage.clear(r.folder)
    return status


def _n_items(data: dict) -> int:
    """The evaluation's items (every set, question sets and texts), for the progress line."""
    ev = sum(len(v) for v in (data.get("eval") or {}).values() if isinstance(v, list))
    return ev + sum(len(m.get("rows", [])) for m in (data.get("mcq") or {}).values())


def write_run(r: Resolved, model, tok, metrics, items, log, compute, extra, status, error, requests=(),
              curve=(), produced=None, warnings=(), base_changed=()) -> None:
    """Write the run folder in one atomic rename: config, task, metrics, items, log, compute,
    provenance, the model (when asked) and, last, the status that marks it complete."""
    cfg = r.cfg
    with atomic_dir(r.folder) as tmp:
        (tmp / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        (tmp / "task.yaml").write_text(resolved_yaml(r.task))
        write_json_atomic(tmp / "metrics.json", metrics)
        write_jsonl(tmp / "items.jsonl", items)
        write_jsonl(tmp / "train_log.jsonl", log)
        write_json_atomic(tmp / "compute.json", compute)
        if requests:
            write_jsonl(tmp / "requests.jsonl", list(requests))
        if curve:
            write_jsonl(tmp / "curve.jsonl", list(curve))
        write_json_atomic(tmp / "provenance.json", provenance(cfg.seed, extra))
        if status == "complete" and r.method is not None and cfg.unlearn.save_model:
            adapters.save(model, tmp / "model", cfg.adapter, base_changed)  # + frozen weights it changed (LoKU)
            tok.save_pretrained(tmp / "model")
        if produced is not None:
            write_json_atomic(tmp / "form.json", {"form": r.form.name, "kind": r.form.kind, "label": r.form.label(
                r.form_cfg), "note": produced.note, **produced.info})
            if status == "complete" and produced.save is not None and cfg.unlearn.save_model:
                produced.save(tmp / "model")
                tok.save_pretrained(tmp / "model")
        write_json_atomic(tmp / "status.json", {"status": status, "error": error, "run_id": r.run_id,
                                                **({"warnings": list(warnings)} if warnings else {})})
