"""Attacks on a finished run's model, as plug-ins: one module per attack in this folder, registered with
@register_attack and discovered automatically (a new attack edits no other file).

Does the forgetting stick? An attack takes the unlearned model and returns the models to evaluate
instead (a quantised copy, a model after a few steps of relearning, ...); the harness evaluates each
with the run's own track, exactly as the run was evaluated, and writes the results into the run folder
(`attacks/<name>/`). The interface, checked by tests/test_attacks.py for every registered attack:

    name           the attack's name (`python -m harness attack <run folder> <name>`)
    summary        one line: what it does, and its paper
    families       the task families (tracks) it applies to
    Config         a dataclass of its settings (attack arguments `key=value`, validated like any config)
    models(model, cfg, ctx) -> iterator of (label, model): what to evaluate instead of `model`
Optional: check(cfg, data, source) (input checks that need the run's data, before any compute);
restrict(ctx, cfg) -> (data, reference) (evaluate a subset, e.g. probe items); baseline_label (the
label changes are measured against, instead of the run's own numbers).
"""
from __future__ import annotations

import functools
import importlib
import pkgutil

from harness.config import ConfigError
from harness.schema import did_you_mean

ATTACKS: dict[str, object] = {}
INTERFACE = ("name", "summary", "families", "Config", "models")


def register_attack(name: str):
    """Class decorator: register one instance of the class under `name`."""
    def wrap(cls):
        if name in ATTACKS:
            raise ValueError(f"attack '{name}' registered twice")
        obj = cls()
        obj.name = name
        ATTACKS[name] = obj
        return cls
    return wrap


@functools.cache
def _discover() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


def load_attacks() -> dict[str, object]:
    _discover()
    return ATTACKS


def get_attack(name: str):
    attacks = load_attacks()
    if name not in attacks:
        raise ConfigError(f"unknown attack '{name}'{did_you_mean(name, sorted(attacks))} "
                          f"(available: {', '.join(sorted(attacks))})")
    return attacks[name]
