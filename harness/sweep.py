"""Sweep files (configs/sweep_*.yaml): every method tuned with the same budget and the same declared rule,
on validation data, then reported once on the test data at the setting the rule picked.

    name: forget01            # tags the sweep's runs (config key sweep.name)
    version: 1
    task: tofu_forget01       # the reported task
    validation: {overrides: ["world.seed=1"]}   # the data to tune on (world.*, dataset, model.target|retain)
    methods:                  # method -> axes: config key -> values (a grid; `budget` points of it)
      graddiff: {unlearn.lr: [1.0e-4, 1.0e-3, 5.0e-3], method_args.alpha: [1.0, 5.0]}
    budget: 4                 # trials per method (a seeded random subset of a larger grid)
    overrides: []             # key=value for every run (with those of the command line)
    resources: {gpus: 0, cpus: 2, mem_gb: 8, time_min: 30}   # what one run needs (the Slurm executor)
    select: {maximize: forget_quality, subject_to: ["model_utility >= 0.95 * target"]}

Protocol: the trials and the reference rows that constraints name (`* target`) run on the validation
data only: another world of the same profile (a different `world.seed`), or for real TOFU a synthetic
world (`dataset=synthetic`, with `model.target=` and `model.retain=` so that its own models are
trained). Then harness/selection.py picks one trial per method, and that setting runs once on the test
task (a "final" run, which records the rule and its trials' run ids). The overrides of the file and of
the command line apply to trials and finals alike; only the validation overrides tell them apart. A
sweep whose validation data shares an item with the test data is refused (harness/protocol.py).
Everything is checked before any compute: unknown or forbidden axis keys, values of the wrong type
(each trial's config is resolved), metrics the task does not declare, impossible resources.
"""
from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import ConfigError, deep_merge, from_dict, load_yaml, num, parse_overrides, set_dotted, text
from harness.selection import Rule, parse_rule, rule_to_dict

# keys a sweep may not vary: they choose the data, the method or where results go, which the sweep's
# own fields (task, validation, methods) and the protocol fix
FIXED_AXES = ("task", "method", "seed", "dataset", "world", "results_dir", "sweep", "start")
# what validation.overrides may set besides world.*: the data, and the models trained on the test data
# (a real target or retain model given for the test data must not be reused on a validation world;
# `model.target=` with no value fine-tunes one on the validation data)
VALIDATION_KEYS = ("dataset", "model.target", "model.retain")


def _slug(v: str) -> str | None:
    return None if re.fullmatch(r"[A-Za-z0-9_.-]+", v) else "letters, digits, '_', '.' or '-'"


@dataclass
class Resources:
    """What one run needs; the Slurm executor asks for it per array task. Upper bounds are what a node
    can hold (a request beyond them is refused as impossible, not queued forever)."""
    gpus: int = num(0, ge=0, le=16)
    cpus: int = num(2, ge=1, le=512)
    mem_gb: int = num(16, ge=1, le=4096)
    time_min: int = num(60, ge=1, le=20160, note="at most 14 days")


@dataclass
class Validation:
    overrides: list[str] = field(default_factory=list)   # e.g. world.seed=1: another world, same profile
    task: str = ""                                        # '' = the reported task on the validation world


@dataclass
class SweepSpec:
    name: str = text("", check=_slug)
    version: int = num(1, ge=1)
    task: str = text("", check=lambda v: None if v.strip() else "a task name")
    methods: dict = field(default_factory=dict)
    budget: int = num(8, ge=1)
    seed: int = num(0, ge=0)
    overrides: list[str] = field(default_factory=list)
    validation: Validation = field(default_factory=Validation)
    resources: Resources = field(default_factory=Resources)
    select: dict = field(default_factory=dict)


@dataclass
class Trial:
    method: str
    point: dict              # axis -> value
    cfg: object              # RunConfig on the validation data
    role: str = "trial"      # or 'reference' (a reference row the constraints name)

    @property
    def setting(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.point.items()) or "defaults"


@dataclass
class Sweep:
    spec: SweepSpec
    rule: Rule
    path: str
    trials: list = field(default_factory=list)       # Trial, methods' trials in order, then references
    cli: list = field(default_factory=list)          # the command line's key=value, after the file's overrides

    def of(self, method: str) -> list:
        return [t for t in self.trials if t.role == "trial" and t.method == method]

    @property
    def references(self) -> list:
        return [t for t in self.trials if t.role == "reference"]

    @property
    def validation(self) -> list[str]:
        """What made the validation data: its overrides, and its task when it has its own."""
        v = self.spec.validation
        return list(v.overrides) + ([f"task={v.task}"] if v.task else [])


def _run_config(overrides: list[str], extra: dict):
    from harness.config import RunConfig
    return from_dict(RunConfig, deep_merge(parse_overrides(overrides), extra))


def _points(axes: dict, budget: int, seed: int, method: str) -> list[dict]:
    keys = list(axes)
    grid = [dict(zip(keys, vals)) for vals in itertools.product(*(axes[k] for k in keys))] or [{}]
    if len(grid) <= budget:
        return grid
    pick = sorted(random.Random(f"{seed}-{method}").sample(range(len(grid)), budget))
    return [grid[i] for i in pick]


def load_sweep(path: str, overrides: list[str] = ()) -> Sweep:
    """Read and check a sweep file; expand its trials (their configs resolved later, with every other run)."""
    from harness.forms import load_forms
    from harness.registry import get_method
    from harness.tasks import get_task
    data = load_yaml(Path(path))
    try:
        spec = from_dict(SweepSpec, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}".replace("config key", "sweep key")) from None
    if not spec.name or not spec.task:
        raise ConfigError(f"{path}: 'name' and 'task' are required")
    if not isinstance(spec.methods, dict) or not spec.methods:
        raise ConfigError(f"{path}: methods: expected a mapping of method -> {{axis: [values]}}")
    task = get_task(spec.task)
    val_task = get_task(spec.validation.task) if spec.validation.task else task
    if val_task.family != task.family:
        raise ConfigError(f"{path}: validation.task {val_task.name} is of family {val_task.family}, "
                          f"the reported task {task.name} of {task.family}")
    rule = parse_rule(spec.select, task.metrics, path)
    missing = [m for m in rule.metrics + tuple(c.metric for c in rule.constraints) if m not in val_task.metrics]
    if missing:
        raise ConfigError(f"{path}: select: metric '{missing[0]}' is not declared by the validation task "
                          f"{val_task.name}")
    for o in spec.validation.overrides:  # the validation data differs by its world, dataset and models only
        key = o.split("=", 1)[0]
        if not (key.startswith("world.") or key in VALIDATION_KEYS):
            raise ConfigError(f"{path}: validation.overrides: '{o}' does not choose data (world.*, "
                              f"{', '.join(VALIDATION_KEYS)}); settings shared by trials and final runs go in "
                              f"overrides")
    base = list(spec.overrides) + list(overrides)
    val_name = spec.validation.task or spec.task   # as given: a task's name or the path of its file
    val = base + list(spec.validation.overrides)
    sw = Sweep(spec, rule, path, cli=list(overrides))
    for method, axes in spec.methods.items():
        get_method(method, also=load_forms)  # did you mean
        axes = axes or {}
        if not isinstance(axes, dict):
            raise ConfigError(f"{path}: methods.{method}: expected a mapping of config key -> list of values")
        for key, values in axes.items():
            if key.split(".")[0] in FIXED_AXES:
                raise ConfigError(f"{path}: methods.{method}: axis '{key}' cannot be swept (the sweep's task, "
                                  f"validation and methods fix it)")
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{path}: methods.{method}.{key}: expected a non-empty list of values, "
                                  f"got {values!r}")
        for point in _points(axes, spec.budget, spec.seed, method):
            extra = deep_merge({"task": val_name, "method": method, "sweep": {"name": spec.name, "role": "trial"}},
                               _axes_dict(point))
            try:
                cfg = _run_config(val, extra)
            except ConfigError as e:
                raise ConfigError(f"{path}: methods.{method}: {e}") from None
            sw.trials.append(Trial(method, point, cfg))
    for role in sorted(rule.references):
        extra = {"task": val_name, "method": "none", "start": role,
                 "sweep": {"name": spec.name, "role": "reference"}}
        sw.trials.append(Trial("none", {}, _run_config(val, extra), role="reference"))
    return sw


def _axes_dict(point: dict) -> dict:
    out: dict = {}
    for k, v in point.items():
        set_dotted(out, k, v, f"axis '{k}'")
    return out


def check_protocol(sw: Sweep) -> None:
    """Selection must never look at the test data. The plain case, the same task on the same world, is
    said at once from the configs; every other overlap is found on the data (harness/protocol.py)."""
    t = sw.trials[0].cfg
    test = final_config(sw, sw.trials[0], [], {})
    same_world = (t.world.seed, t.world.profile, t.dataset) == (test.world.seed, test.world.profile, test.dataset)
    if t.task == test.task and same_world:
        raise ConfigError(f"{sw.path}: the validation data is the test data (same task, same world): set "
                          f"validation.overrides (e.g. world.seed=1) or validation.task")


def check_resources(sw: Sweep, executor: str) -> None:
    """An impossible request is refused before anything runs or is submitted."""
    import torch
    res = sw.spec.resources
    cuda = {t.cfg.model.device for t in sw.trials if t.cfg.model.device.startswith("cuda")}
    if cuda and res.gpus == 0:
        raise ConfigError(f"{sw.path}: the runs ask for model.device={sorted(cuda)[0]} but resources.gpus is 0")
    if executor == "local" and res.gpus > 0 and not torch.cuda.is_available():
        raise ConfigError(f"{sw.path}: resources.gpus={res.gpus} but this machine has no CUDA GPU: run it with "
                          f"--executor slurm, or set resources.gpus: 0")
    if executor == "local" and res.gpus > max(torch.cuda.device_count(), 0) > 0:
        raise ConfigError(f"{sw.path}: resources.gpus={res.gpus} but this machine has {torch.cuda.device_count()}")


def final_config(sw: Sweep, trial: Trial, trial_ids: list[str], ref_ids: dict):
    """The selected setting on the test data: the trial's axes on the reported task and world, with the
    overrides of the file and of the command line as the trials had them, tagged with the rule and the
    run ids it was selected from."""
    extra = deep_merge({"task": sw.spec.task, "method": trial.method,
                        "sweep": {"name": sw.spec.name, "role": "final", "rule": rule_to_dict(sw.rule),
                                  "trials": list(trial_ids), "references": dict(ref_ids),
                                  "validation": sw.validation}},
                       _axes_dict(trial.point))
    return _run_config(list(sw.spec.overrides) + list(sw.cli), extra)


def plan_rows(sw: Sweep, resolved: list, data: dict) -> list[dict]:
    """The dry-run plan: per run, its steps, an estimate of its tokens and of its training FLOPs
    (6 x parameters x tokens through the backward pass, + 2 x parameters x tokens of reference passes).
    Steps are counted as the loop counts them (harness/unlearn.py: groups, token budgets, requests), on
    items estimated without a tokenizer (estimated_items)."""
    from harness.unlearn import batches_per_epoch
    out = []
    params = {}
    for t, r in zip(sw.trials, resolved):
        d = data[id(r)]
        key = (r.cfg.model.base, r.cfg.model.arch.hidden_size, r.cfg.model.arch.num_layers, r.cfg.model.arch.vocab_size)
        if key not in params:
            params[key] = estimate_params(r.cfg)
        row = {"role": t.role, "method": t.method if t.role == "trial" else f"reference {t.cfg.start}",
               "setting": t.setting, "run_id": r.run_id, "steps": 0, "tokens": 0, "flops": 0.0}
        if r.method is not None:
            u, max_len = r.cfg.unlearn, r.cfg.eval.max_length
            retain = estimated_items(d["retain"], max_len)
            per_retain = sum(len(e.answer) for e in retain) / max(len(retain), 1)
            needs = r.method.needs
            uses_retain = any("retain" in need for need in needs)
            steps = f_tokens = r_tokens = 0
            for rows in d.get("requests") or [d["forget"]]:  # sequential requests: one loop each
                forget = estimated_items(rows, max_len)
                per_epoch = batches_per_epoch(forget, u.batch_size, u.batch_tokens)
                n = u.epochs * per_epoch
                n = min(n, u.max_steps) if u.max_steps else n
                # each forget item once an epoch (a capped run: its share of the epochs)
                f_tokens += sum(len(e.answer) for e in forget) * n / max(per_epoch, 1)
                r_tokens += n * u.retain_batch_size * per_retain if uses_retain else 0
                steps += n
            # the frozen reference's passes (forward only): on the batches the method compares with it
            ref = f_tokens * any(x in needs for x in ("ref_forget", "ref_forget_logits", "ref_idk")) \
                + r_tokens * any(x in needs for x in ("retain_logits", "ref_retain_hidden"))
            tokens = f_tokens + r_tokens
            row.update(steps=steps, tokens=int(tokens), flops=6 * params[key] * tokens + 2 * params[key] * ref)
        out.append(row)
    return out


def estimated_items(rows: list, max_len: int) -> list:
    """The training items of a data split as the tracks make them, with lengths estimated at ~4
    characters a token: a question-answer row is one item (cut at max_len), a document row ({'text'})
    is cut into windows of max_len tokens, a bare string (a hazard corpus's document) is one item; a
    list of lists is several forget corpora (the loop's groups)."""
    from harness.prompts import PLAIN_TEMPLATE, Encoded
    groups = rows if rows and isinstance(rows[0], list) else [rows]
    # a question-answer row is formatted: the plain template around the question and a space; every
    # item gets BOS and EOS
    template = len(PLAIN_TEMPLATE.format(question="")) + 1
    out = []
    for g, grp in enumerate(groups):
        for row in grp:
            qa = isinstance(row, dict) and "question" in row
            chars = len(row) if isinstance(row, str) else _chars(row) + (template if qa else 0)
            n = max(1, round(chars / 4)) + 2
            pieces = [min(max_len, n - i) for i in range(0, n, max_len)] if isinstance(row, dict) and "text" in row \
                else [min(n, max_len)]
            out += [Encoded([], [0] * k, g) for k in pieces]
    return out


def _chars(row: dict) -> int:
    return sum(len(v) for k, v in row.items() if k in ("question", "answer", "text") and isinstance(v, str))


def estimate_params(cfg) -> float:
    """Parameters of the start model's weight matrices (what the FLOP meter counts: every nn.Linear,
    the output head included; not the embedding lookup), from its config alone (built on the meta
    device): the default architecture, or a local model folder's config.json; 0 when unknown (a hub
    id, offline)."""
    from harness.meter import matmul_params
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig
    m = cfg.model
    try:
        if m.base == "default" and not m.target:
            a = m.arch
            conf = LlamaConfig(vocab_size=a.vocab_size, hidden_size=a.hidden_size,
                               intermediate_size=a.intermediate_size, num_hidden_layers=a.num_layers,
                               num_attention_heads=a.num_heads,
                               max_position_embeddings=a.max_position)
        else:
            from harness import packaged
            ref = m.target or m.base
            if packaged.is_packaged(ref):  # its converted folder, once converted (no conversion for an estimate)
                ref = str(packaged.converted_folder(ref))
            conf = AutoConfig.from_pretrained(ref)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(conf)
        return float(matmul_params(model))
    except Exception:  # noqa: BLE001 - an estimate: unknown is 0, said as such in the plan
        return 0.0
