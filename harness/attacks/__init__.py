"""Attacks on a finished run's model, as plug-ins: one module per attack in this folder, registered with
@register_attack and discovered automatically (a new attack edits no other file).

Does the forgetting stick? An attack takes the unlearned model and returns the models to evaluate
instead (a quantised copy, a model after a few steps of relearning, ...); the harness evaluates each
with the run's own track, exactly as the run was evaluated, and writes the results into the run folder
(`attacks/<name>/`). The interface, checked by tests/test_attacks.py for every registered attack:

    name           the attack's name (`python -m harness attack <run folder> <name>`)
    summary        one line: what it does, and its paper
    requires       the capabilities it needs of a task family's track (harness/families/ CAPABILITIES,
                   e.g. "relearn_split"); () = every family. Attacks never name a family
    Config         a dataclass of its settings (attack arguments `key=value`, validated like any config);
                   list settings (relearning's steps, quantisation's bits) choose labels and are merged
                   across requests; other settings name their own results folder (harness/attack_run.py)
    seeded         whether its models depend on the run's seed (relearning's batch order, the in-context
                   examples): the cached control and target numbers are then kept per seed
    models(model, cfg, ctx) -> iterator of (label, model): what to evaluate instead of `model`; labels
                   contain no '_' (leaderboard columns are <attack>_<label>_<metric>)
Optional: check(cfg, data, source, track) (input checks that need the run's data, before any compute);
restrict(ctx, cfg) -> (data, reference) (evaluate a subset or a rewording, e.g. probe items);
formatter(ctx, cfg) -> a PromptFormatter (ask differently, e.g. after in-context examples);
baseline_label (the label changes are measured against, instead of the run's own numbers).
"""
from __future__ import annotations

from harness.plugins import Registry

_REGISTRY = Registry(__name__, "attack", "attack")
ATTACKS = _REGISTRY.items
INTERFACE = ("name", "summary", "requires", "Config", "seeded", "models")
register_attack = _REGISTRY.register    # class decorator: @register_attack("name")
load_attacks = _REGISTRY.load           # every registered attack, its folder imported once per process
get_attack = _REGISTRY.get              # one by name; an unknown name fails with a did-you-mean
