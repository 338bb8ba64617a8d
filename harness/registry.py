"""The method registry. A method is a loss function in its own file under methods/, registered with
a decorator that names it, gives its config dataclass, and declares what the loop must supply.

Adding a method edits no other file: `methods/__init__.py` imports every module in its folder.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Callable

from harness.config import ConfigError, from_dict
from harness.schema import did_you_mean

# What a loss can ask the loop for. Each is computed only when some method declares it.
SUPPLIES = {
    "forget": "per-token log-probs of the forget answers under the trained model (with grad)",
    "retain": "per-token log-probs of the retain answers under the trained model (with grad)",
    "forget_logits": "as 'forget', keeping the answer-position logits (for token-level losses)",
    "ref_forget": "per-token log-probs of the forget answers under the frozen start model",
    "ref_forget_logits": "as 'ref_forget', keeping the frozen model's answer-position logits (distillation)",
    "ref_retain": "per-token log-probs of the retain answers under the frozen start model",
    "retain_logits": "answer-position logits on retain inputs, trained and frozen (for KL terms)",
    "idk": "log-probs of a refusal answer to each forget question, trained model (with grad)",
    "ref_idk": "log-probs of the same refusal answers under the frozen start model",
    "forget_hidden": "hidden states at the output of decoder layer cfg.layer on forget inputs (with grad)",
    "retain_hidden": "the same on retain inputs (with grad)",
    "ref_retain_hidden": "the same on retain inputs under the frozen start model",
    "forget_group": "index of the forget corpus this batch comes from (batches never mix corpora)",
}
# Supplies that need the frozen start model (a copy, or under LoRA the adapters switched off).
REFERENCE_SUPPLIES = {"ref_forget", "ref_forget_logits", "ref_retain", "retain_logits", "ref_idk",
                      "ref_retain_hidden"}


@dataclass(frozen=True)
class Method:
    name: str
    loss: Callable
    config: type
    needs: frozenset
    lr: float       # default learning rate (chosen on the default benchmark, see methods/README.md)
    epochs: int     # default number of passes over the forget set
    summary: str
    trainable: Callable | None = None  # cfg -> regex of the parameter names to train (e.g. RMU)
    init: Callable | None = None       # (model, forget, retain, cfg, pad_id) -> None, before the loop
    requires_adapter: bool = False     # a LoRA-native method (refuses adapter.kind=none)
    lora_lr: float | None = None       # default learning rate under adapter.kind=lora
    max_grad_norm: float = 1.0         # default gradient clipping (0 = none)

    def parse_args(self, args: dict):
        return from_dict(self.config, args or {}, where="method_args")

    @property
    def needs_reference(self) -> bool:
        return bool(self.needs & REFERENCE_SUPPLIES)


METHODS: dict[str, Method] = {}


def register_method(name: str, *, config: type, needs: tuple = ("forget",), lr: float, epochs: int,
                    trainable: Callable | None = None, init: Callable | None = None,
                    requires_adapter: bool = False, lora_lr: float | None = None,
                    max_grad_norm: float = 1.0):
    unknown = set(needs) - set(SUPPLIES)
    if unknown:
        raise ValueError(f"method '{name}' needs unknown supplies {sorted(unknown)}; known: {sorted(SUPPLIES)}")
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"method '{name}': config must be a dataclass")
    if any(n.endswith("_hidden") for n in needs) and "layer" not in {f.name for f in dataclasses.fields(config)}:
        raise TypeError(f"method '{name}': hidden-state supplies need a 'layer' field in its config")

    def wrap(fn: Callable) -> Callable:
        doc = (fn.__doc__ or "").strip().splitlines()
        METHODS[name] = Method(name, fn, config, frozenset(needs), lr, epochs, doc[0] if doc else "",
                               trainable, init, requires_adapter, lora_lr, max_grad_norm)
        return fn
    return wrap


def load_methods() -> dict[str, Method]:
    importlib.import_module("methods")
    return METHODS


def get_method(name: str, also: Callable[[], dict] | None = None) -> Method:
    """The registered method `name`; an unknown name fails with a did-you-mean over the methods and the
    names `also()` returns (the callers pass harness.forms.load_forms: forms are named the same way)."""
    methods = load_methods()
    if name not in methods:
        known = sorted(methods) + sorted(also() if also else ())
        raise ConfigError(f"unknown method '{name}'{did_you_mean(name, known)} "
                          f"(available: {', '.join(known)}, none)")
    return methods[name]
