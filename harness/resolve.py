"""A run's identity, before any compute: the config validated in one pass and completed with the task's,
the method's or form's defaults, and the run id (the hash of every key that changes what is computed;
the keys that do not are marked on the config fields: harness/schema.py ID_RULES). Everything that can
be wrong with the input (config keys, types and ranges, task, method and its arguments, local model
folders, devices) fails here with one line."""
from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path

from harness import curves, forms, packaged, sharded
from harness import models as MD
from harness.config import ConfigError, RunConfig, UnlearnConfig, from_dict, identity, to_dict, validate
from harness.families import get_track, lacks
from harness.fingerprint import input_fingerprints
from harness.io import portable, stable_hash
from harness.registry import get_method
from harness.tasks import Task, get_task
from harness.tensors import fused_available


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
        if packaged.is_packaged(ref):  # installed, its file whole (size, SHA-256), an architecture we load
            packaged.locate(ref)
            continue
        if ref.startswith(("/", ".", "~")) and not Path(ref).expanduser().exists():
            raise ConfigError(f"config key 'model.{role}': folder '{ref}' does not exist")
        if ref and ref != "default" and Path(ref).expanduser().is_dir():
            _check_model_folder(Path(ref).expanduser(), role)
    _check_chat(cfg)
    if sharded.requested_by_launcher():  # accelerate launch --use_fsdp
        cfg.unlearn.fsdp = True
    device = MD.resolve_device(cfg.model.device)  # no GPU for cuda: fails here
    MD.resolve_dtype(cfg.model.dtype, device)
    if cfg.model.label_logprobs == "fused" and (device.type != "cuda" or not fused_available()):
        raise ConfigError("model.label_logprobs=fused needs a CUDA device and liger-kernel (pip install "
                          "liger-kernel); use chunked (the same numbers, any device)")
    body = identity(to_dict(cfg))
    for role in ("base", "target", "retain", "evaluate"):  # a cached model is named by its place in the cache,
        if body["model"][role].startswith("/"):            # not by where this clone keeps it: one id in any clone
            body["model"][role] = portable(body["model"][role])
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


def _check_chat(cfg: RunConfig) -> None:
    """eval.prompt_style=chat needs a tokenizer with a chat template: the from-scratch default has none,
    and a local folder has one when its tokenizer files carry it (packaged models always do)."""
    if cfg.eval.prompt_style != "chat":
        return
    ref = cfg.model.evaluate or cfg.model.target or cfg.model.base
    if ref == "default":
        raise ConfigError("eval.prompt_style=chat: the default from-scratch models have no chat template; "
                          "use prompt_style=auto or plain, or a model with a chat template (e.g. model=smollm2-135m)")
    folder = Path(ref).expanduser()
    if folder.is_dir() and (folder / "tokenizer_config.json").is_file() and not (folder / "chat_template.jinja").is_file() \
            and "chat_template" not in (folder / "tokenizer_config.json").read_text():
        raise ConfigError(f"eval.prompt_style=chat: the tokenizer in '{ref}' has no chat template; "
                          f"use prompt_style=plain")


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
