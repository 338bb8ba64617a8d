"""The method registry. A method is a loss function in its own file under methods/, registered with
a decorator that names it, gives its config dataclass, and declares what the loop must supply.

Adding a method edits no other file: `methods/__init__.py` imports every module in its folder.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
from dataclasses import dataclass
from typing import Callable

from harness.config import ConfigError, from_dict

# What a loss can ask the loop for. Each is computed only when some method declares it.
SUPPLIES = {
    "forget": "per-token log-probs of the forget answers under the trained model (with grad)",
    "retain": "per-token log-probs of the retain answers under the trained model (with grad)",
    "ref_forget": "per-token log-probs of the forget answers under the frozen start model",
    "ref_retain": "per-token log-probs of the retain answers under the frozen start model",
    "retain_logits": "answer-position logits on retain inputs, trained and frozen (for KL terms)",
}


@dataclass(frozen=True)
class Method:
    name: str
    loss: Callable
    config: type
    needs: frozenset
    lr: float       # default learning rate (chosen on the default benchmark, see the docstring)
    epochs: int     # default number of passes over the forget set
    summary: str

    def parse_args(self, args: dict):
        return from_dict(self.config, args or {}, where="method_args")


METHODS: dict[str, Method] = {}


def register_method(name: str, *, config: type, needs: tuple = ("forget",), lr: float, epochs: int):
    unknown = set(needs) - set(SUPPLIES)
    if unknown:
        raise ValueError(f"method '{name}' needs unknown supplies {sorted(unknown)}; known: {sorted(SUPPLIES)}")
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"method '{name}': config must be a dataclass")

    def wrap(fn: Callable) -> Callable:
        doc = (fn.__doc__ or "").strip().splitlines()
        METHODS[name] = Method(name, fn, config, frozenset(needs), lr, epochs, doc[0] if doc else "")
        return fn
    return wrap


def load_methods() -> dict[str, Method]:
    importlib.import_module("methods")
    return METHODS


def get_method(name: str) -> Method:
    methods = load_methods()
    if name not in methods:
        close = difflib.get_close_matches(name, list(methods), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown method '{name}'{hint} (available: {', '.join(sorted(methods))}, none)")
    return methods[name]
