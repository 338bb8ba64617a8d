"""Typed run configuration: dataclasses loaded from YAML plus `key=value` overrides.

Every key is checked against the dataclass before anything runs: an unknown key or a value of the
wrong type stops with one line naming the key, what was expected, and the closest valid key.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A bad configuration value or key; raised before any compute is spent."""


@dataclass
class WorldConfig:
    profile: str = "default"  # tiny | default | full (TOFU size: 200 authors x 20 QA)
    seed: int = 0


@dataclass
class ArchConfig:
    """Shape of the from-scratch Llama used when model.base=default."""
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 384
    vocab_size: int = 2048      # target; the trained tokenizer may come out smaller
    max_position: int = 128


@dataclass
class TrainRecipe:
    """How base/target/retain models are trained (TOFU: 5 epochs, lr 1e-5, batch 32, wd 0.01)."""
    epochs: int = 30
    lr: float = 5e-3
    batch_size: int = 32
    weight_decay: float = 0.01
    warmup_frac: float = 0.05
    replay: bool = True  # mix the base's pretraining corpus into fine-tuning (keeps world knowledge)


@dataclass
class ModelConfig:
    base: str = "default"   # 'default' = train from scratch, or any HF model id / local path
    target: str = ""        # '' = fine-tune base on the task's full split; or a model id / path
    retain: str = ""        # '' = fine-tune base on the task's retain split; or a model id / path
    dtype: str = "auto"     # auto | float32 | bfloat16 | float16
    device: str = "auto"    # auto | cpu | cuda | cuda:N
    arch: ArchConfig = field(default_factory=ArchConfig)
    pretrain: TrainRecipe = field(default_factory=lambda: TrainRecipe(epochs=60, replay=False))
    finetune: TrainRecipe = field(default_factory=lambda: TrainRecipe(epochs=45))


@dataclass
class UnlearnConfig:
    lr: float | None = None      # None: the method's registered default
    epochs: int | None = None    # None: the method's registered default
    batch_size: int = 8
    retain_batch_size: int = 8
    weight_decay: float = 0.0
    warmup_steps: int = 0
    max_grad_norm: float | None = None  # None: the method's default (1.0; RMU: 0 = no clipping)
    max_steps: int = 0           # 0: no cap
    save_model: bool = True


@dataclass
class AdapterConfig:
    """LoRA as a switch for every method (peft): only the adapters train; the reference model is the
    same network with the adapters switched off."""
    kind: str = "none"           # none | lora
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: list = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj",
                                                          "gate_proj", "up_proj", "down_proj"])
    save: str = "merged"         # merged (a plain model folder) | adapter (the adapter alone)


@dataclass
class EvalConfig:
    batch_size: int = 64
    max_new_tokens: int = 48     # TOFU uses 200; the default world's answers are < 30 tokens
    max_length: int = 256
    prompt_style: str = "auto"   # auto (chat template if the tokenizer has one) | plain | chat
    min_k: float = 0.4           # k of the Min-K% and Min-K%++ attacks (privleak uses Min-40%)
    bootstrap: int = 1000        # resamples for the 95% intervals (0 = none)


@dataclass
class RunConfig:
    task: str = "tofu_forget10"
    method: str = "grad_ascent"  # a registered method, or 'none' to evaluate the start model as is
    method_args: dict = field(default_factory=dict)
    start: str = "auto"          # the start model: target | retain | base; auto = the task's (TOFU: target, WMDP: base)
    seed: int = 0
    dataset: str = ""            # '' = the task's dataset; else 'synthetic', 'locuslab/TOFU' or a folder
    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    unlearn: UnlearnConfig = field(default_factory=UnlearnConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    results_dir: str = "results"


def _type_ok(value: Any, tp: Any) -> tuple[bool, Any]:
    """Check (and gently coerce: int -> float) a value against a type annotation."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, v = _type_ok(value, arg)
            if ok:
                return True, v
        return False, value
    if tp is type(None):
        return value is None, value
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        if isinstance(value, str):  # YAML 1.1 reads "5e-4" (no dot) as a string
            try:
                return True, float(value)
            except ValueError:
                pass
        return False, value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp in (str, bool, dict, list):
        return isinstance(value, tp), value
    if origin in (dict, list):
        return isinstance(value, origin), value
    return True, value


def _type_name(tp: Any) -> str:
    return str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "")


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass `cls` from a dict, rejecting unknown keys and wrong types with one line."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean '{(where + '.') if where else ''}{close[0]}'?" if close else ""
            raise ConfigError(f"unknown config key '{path}'{hint} (valid: {', '.join(names)})")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value, path)
            continue
        ok, coerced = _type_ok(value, tp)
        if not ok:
            raise ConfigError(f"config key '{path}': expected {_type_name(tp)}, got {value!r}")
        kwargs[key] = coerced
    return cls(**kwargs)


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
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{p}' is not a section")
        node[parts[-1]] = value
    return out


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
        data = yaml.safe_load(path.read_text()) or {}
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
