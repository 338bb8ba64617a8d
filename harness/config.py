"""Typed run configuration: dataclasses loaded from YAML plus `key=value` overrides.

Every field declares its valid values where it is declared (harness/schema.py: `Literal` choices,
`num` bounds, `text` checks), and every key is checked before anything runs: an unknown key, a value
of the wrong type or out of range stops with one line naming the key, what it expects and the value.
"""
from __future__ import annotations

import copy
import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from harness.schema import ConfigError, from_dict, num, text, validate  # noqa: F401 (re-exported)

NEUTRAL = {"identity": "neutral_at_default"}  # a field's identity rule (harness/schema.py ID_RULES)


def _device_name(v: str) -> str | None:
    return None if re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", v) else "auto, cpu, cuda, cuda:N or mps"


def _nonempty(v: str) -> str | None:
    return None if v.strip() else "a non-empty string"


SELECT_RULE = re.compile(r"last|(max|min):([A-Za-z0-9_]+)")  # unlearn.select (harness/curves.py)


def select_rule_syntax(v: str) -> str | None:
    return None if SELECT_RULE.fullmatch(v) else "last, max:<curve metric> or min:<curve metric>"


@dataclass
class WorldConfig:
    profile: Literal["tiny", "small", "default", "full"] = "default"  # full = TOFU's size: 200 authors x 20 QA; small: TOFU only (real models on a CPU)
    seed: int = num(0, ge=0)


@dataclass
class ArchConfig:
    """Shape of the from-scratch Llama used when model.base=default."""
    hidden_size: int = num(128, ge=8)
    num_layers: int = num(2, ge=1)
    num_heads: int = num(4, ge=1)
    intermediate_size: int = num(384, ge=1)
    vocab_size: int = num(2048, ge=260, note="256 bytes + 4 special tokens at least")  # the trained tokenizer may come out smaller
    max_position: int = num(128, ge=16)

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"config key 'model.arch.num_heads': hidden_size {self.hidden_size} is not "
                              f"divisible by num_heads {self.num_heads}")


@dataclass
class TrainRecipe:
    """How base/target/retain models are trained (TOFU: 5 epochs, lr 1e-5, batch 32, wd 0.01)."""
    epochs: int = num(30, ge=1)
    lr: float = num(5e-3, gt=0)
    batch_size: int = num(32, ge=1)
    weight_decay: float = num(0.01, ge=0)
    warmup_frac: float = num(0.05, ge=0, le=1)
    # mix what the base knew into fine-tuning: the default world's pretraining corpus; for a pretrained
    # base fine-tuned on QA (tofu), its own answers to held-out real-world questions (real_world.py)
    replay: bool = True
    # fine-tune LoRA adapters of this rank on every linear layer and merge them into the weights before
    # saving (a real model on a CPU: ~4x cheaper a step than full fine-tuning, and it keeps more of
    # what the base knew); 0 = full fine-tuning. The saved model is a plain model either way.
    lora_rank: int = num(0, ge=0, note="0 = full fine-tuning", identity="neutral_at_default")
    # the training seed (batch order, LoRA initialisation); None = the world's seed. The meta-evaluation's
    # pools (harness/metaeval_pools.py) vary it to get several models of one world
    seed: int | None = num(None, ge=0, note="None = world.seed", identity="neutral_at_default")


@dataclass
class ModelConfig:
    base: str = "default"   # 'default' = train from scratch, or any HF model id / local path
    target: str = ""        # '' = fine-tune base on the task's full split; or a model id / path
    retain: str = ""        # '' = fine-tune base on the task's retain split; or a model id / path
    evaluate: str = ""      # `eval` command: a saved model evaluated as is (method=none), labelled by its name
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = text("auto", check=_device_name)
    # label log-probs: full-vocabulary logits of the whole batch, or the answer positions in chunks (the same
    # numbers, a fraction of the memory at a 128k vocabulary), or liger-kernel's fused linear-cross-entropy
    # (CUDA, `pip install liger-kernel`); auto = fused on CUDA with liger, else chunked on CUDA, full on a CPU
    label_logprobs: Literal["auto", "full", "chunked", "fused"] = field(default="auto", metadata=NEUTRAL)
    logits_chunk: int = num(256, ge=1, identity="neutral_at_default")
    arch: ArchConfig = field(default_factory=ArchConfig)
    pretrain: TrainRecipe = field(default_factory=lambda: TrainRecipe(epochs=60, replay=False))
    finetune: TrainRecipe = field(default_factory=lambda: TrainRecipe(epochs=45))


@dataclass
class UnlearnConfig:
    lr: float | None = num(None, gt=0)         # None: the method's registered default
    epochs: int | None = num(None, ge=1)       # None: the method's registered default
    batch_size: int = num(8, ge=1)
    # token-budget batching of the forget set: batches of at most N padded tokens, sequences of similar
    # length together (0: batch_size sequences a batch); retain batches stay retain_batch_size sequences
    batch_tokens: int = num(0, ge=0, note="0 = batch_size sequences a batch", identity="neutral_at_default")
    retain_batch_size: int = num(8, ge=1)
    weight_decay: float = num(0.0, ge=0)
    warmup_steps: int = num(0, ge=0)
    max_grad_norm: float | None = num(None, ge=0, note="0 = no clipping")  # None: the method's default
    max_steps: int = num(0, ge=0, note="0 = no cap")
    # the decoder layers through torch.compile while unlearning (harness/compiled.py): faster on a GPU,
    # the same numbers up to kernel rounding; FLOPs then counted per layer
    compile: bool = field(default=False, metadata=NEUTRAL)
    # activation checkpointing of the decoder layers while unlearning (harness/compiled.py): less memory
    # for about one more forward pass; the same numbers up to float rounding
    checkpoint: bool = field(default=False, metadata=NEUTRAL)
    # launched on several processes: shard the model, its gradients and optimizer state across them
    # (FSDP2, harness/sharded.py) instead of a whole copy on each; not part of the run's id
    fsdp: bool = field(default=False, metadata={"identity": "ignored"})
    save_model: bool = True
    refusals: str = ""           # IdkDPO's refusal file; '' = the dataset's idontknow file, else built in
    # The unlearning curve (harness/curves.py): cheap metrics every curve_every steps, and the checkpoint
    # rule: last, or max:<curve metric> / min:<curve metric> among steps whose utility proxy is
    # >= select_floor x its value at step 0. Ignored (reset) for method=none.
    curve_every: int = num(0, ge=0, note="0 = no curve")
    curve_items: int = num(16, ge=1)  # items per evaluation set the curve scores (the first n)
    select: str = text("last", check=select_rule_syntax)
    select_floor: float = num(0.9, ge=0, le=1, note="fraction of the start model's curve utility")
    # what a rule other than `last` chooses on: held_out (the curve measures half of the forget units and
    # retain items the evaluation does not score, and the run is scored on the other half: it never picks
    # a step on the items it reports), or evaluated (the curve measures the scored items; the row says so)
    select_on: Literal["held_out", "evaluated"] = field(default="held_out",
                                                        metadata={"identity": ("moot_when", "select", "last")})


@dataclass
class AdapterConfig:
    """LoRA as a switch for every method (peft): only the adapters train; the reference model is the
    same network with the adapters switched off."""
    kind: Literal["none", "lora"] = "none"
    rank: int = num(8, ge=1)
    alpha: float = num(16.0, gt=0)
    dropout: float = num(0.0, ge=0, lt=1)
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        metadata={"check": lambda v: None if v and all(x.strip() for x in v) else "a non-empty list of module names"})
    save: Literal["merged", "adapter"] = "merged"  # merged: a plain model folder; adapter: the adapter alone


@dataclass
class EvalConfig:
    batch_size: int = num(64, ge=1)
    max_new_tokens: int = num(48, ge=1)  # TOFU uses 200; the default world's answers are < 30 tokens
    max_length: int = num(256, ge=8)
    prompt_style: Literal["auto", "plain", "chat"] = "auto"  # auto: the chat template if the tokenizer has one
    min_k: float = num(0.4, gt=0, le=1)  # k of the Min-K% and Min-K%++ attacks (privleak uses Min-40%)
    bootstrap: int = num(1000, ge=0, note="0 = no intervals")  # resamples for the 95% intervals


@dataclass
class SweepTag:
    """Written by `harness sweep`, never by hand: the sweep a run belongs to and its role in it. A final
    run (the selected setting on the test data) also carries the rule, the run ids of its trials and of
    the reference rows on the validation data, so the leaderboard redoes the selection from the run
    folders alone (harness/selected.py). At its defaults it leaves a run's id unchanged."""
    name: str = text("", check=lambda v: None if re.fullmatch(r"[A-Za-z0-9_.-]*", v) else
                     "letters, digits, '_', '.' or '-' (a sweep's name)")
    role: Literal["", "trial", "reference", "final"] = ""
    rule: dict = field(default_factory=dict)          # harness/selection.py rule_to_dict
    trials: list[str] = field(default_factory=list)   # run ids, in the sweep's order
    references: dict = field(default_factory=dict)    # 'target' / 'retain' -> run id (validation data)
    validation: list[str] = field(default_factory=list)  # the overrides that made the validation data


@dataclass
class RunConfig:
    task: str = text("tofu_forget10", check=_nonempty)
    method: str = text("grad_ascent", check=_nonempty)  # a registered method, or 'none' (evaluate as is)
    method_args: dict = field(default_factory=dict)
    start: Literal["auto", "target", "retain", "base"] = "auto"  # auto: the task's (TOFU: target, WMDP: base)
    seed: int = num(0, ge=0)
    dataset: str = ""            # '' = the task's dataset; else 'synthetic', 'locuslab/TOFU' or a folder
    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    unlearn: UnlearnConfig = field(default_factory=UnlearnConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sweep: SweepTag = field(default_factory=SweepTag, metadata={"identity": ("moot_when", "sweep.name", "")})
    results_dir: str = text("results", check=_nonempty, identity="ignored")


def _adapters(v: list) -> str | None:
    return None if v and set(v) <= {"none", "lora"} else "a non-empty list of none, lora"


@dataclass
class GridSpec:
    """A grid file (configs/grid_*.yaml): tasks x world seeds x seeds x (baselines + methods x adapters)."""
    tasks: list[str] = field(default_factory=list)
    methods: Literal["all"] | list[str] = "all"
    adapters: list[str] = field(default_factory=lambda: ["none"], metadata={"check": _adapters})
    seeds: list[int] = field(default_factory=lambda: [0], metadata={
        "check": lambda v: None if v and all(x >= 0 for x in v) else "a non-empty list of seeds >= 0"})
    # replication across worlds: each world seed draws its own synthetic world and trains its own base,
    # target and retain models ([] = the runs' world.seed, as the overrides give it)
    world_seeds: list[int] = field(default_factory=list, metadata={
        "check": lambda v: None if all(x >= 0 for x in v) and len(set(v)) == len(v) else "distinct world seeds >= 0"})
    baselines: list[Literal["target", "retain", "base"]] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)  # key=value for every run
    method_overrides: dict = field(default_factory=dict)  # method -> [key=value, ...]
    task_overrides: dict = field(default_factory=dict)    # task -> [key=value, ...] for its method runs
    attacks: dict = field(default_factory=dict)  # attack -> [key=value, ...]: on every method run, once complete
    attack_tasks: list[str] = field(default_factory=list)  # the tasks whose runs are attacked ([] = all)
    forms: dict = field(default_factory=dict)       # other forms (harness/forms/): name -> [[key=value, ...], ...]
    form_tasks: dict = field(default_factory=dict)  # form -> the tasks it runs on (default: every task)


def parse_overrides(items: list[str]) -> dict:
    """['a.b=1', 'c=x'] -> {'a': {'b': 1}, 'c': 'x'}; values are parsed as YAML scalars."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override '{item}': expected key=value, e.g. method=graddiff")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        if key == "model" and isinstance(value, str):
            key = "model.base"  # shorthand: model=<hf id or path> replaces the default base model
        set_dotted(out, key, value, f"override '{item}'")
    return out


def set_dotted(out: dict, key: str, value, what: str) -> None:
    """out['a']['b'] = value for key 'a.b', sections created as needed; `what` names the input in errors."""
    node = out
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{what}: '{p}' is not a section")
    node[parts[-1]] = value


def deep_merge(base: dict, extra: dict) -> dict:
    """Recursive merge; values in `extra` win."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_yaml(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file '{path}' not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{at} is not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_run_config(path: str | None = None, overrides: list[str] | None = None) -> RunConfig:
    data = load_yaml(Path(path)) if path else {}
    data = deep_merge(data, parse_overrides(overrides or []))
    return from_dict(RunConfig, data)


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


# config keys that leave a run's id as it was when they are at these defaults (added after runs were
# published; their defaults reproduce those runs' numbers on a CPU)
def _id_rules(cls, prefix: tuple = ()) -> list[tuple[tuple, object, object]]:
    """(path of a field, its identity rule, its default) for every field of RunConfig that declares one
    (schema.ID_RULES), sections included."""
    out, hints = [], typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = prefix + (f.name,)
        if f.metadata.get("identity"):
            default = f.default if f.default is not dataclasses.MISSING else to_dict(f.default_factory())
            out.append((path, f.metadata["identity"], default))
        if dataclasses.is_dataclass(hints[f.name]):
            out += _id_rules(hints[f.name], path)
    return out


ID_RULE_LIST = _id_rules(RunConfig)


def identity(cfg: dict) -> dict:
    """What makes two runs the same run: the resolved config as a dict, less what its fields' identity
    rules leave out (harness/schema.py ID_RULES): where it is written and how its processes share the
    work, keys added after runs were published while at the defaults that reproduce those runs, and
    keys that have no effect (select_on under select=last, an empty sweep tag). The run id hashes this,
    and the leaderboard groups seeds by it (a folder written before a key existed and one written after
    are the same setting)."""
    body = copy.deepcopy(cfg)
    drop = []
    for path, rule, default in ID_RULE_LIST:
        section = body
        for key in path[:-1]:
            section = section.get(key) if isinstance(section, dict) else None
        if not isinstance(section, dict) or path[-1] not in section:
            continue
        if rule == "ignored" or (rule == "neutral_at_default" and section[path[-1]] == default):
            drop.append((section, path[-1]))
        elif isinstance(rule, tuple) and rule[0] == "moot_when":
            where = section
            for key in rule[1].split("."):
                where = where.get(key, rule[2]) if isinstance(where, dict) else rule[2]
            if where == rule[2] or (rule[2] == "" and not where):
                drop.append((section, path[-1]))
    for section, key in drop:
        section.pop(key, None)
    return body


def normalised(cfg: dict) -> dict:
    """A config.yaml read back from a run folder with every key the current RunConfig has (defaults
    filled in where the folder predates a key), reduced to its identity(): what the leaderboard groups
    a setting's seeds by."""
    return identity(deep_merge(to_dict(RunConfig()), cfg))
