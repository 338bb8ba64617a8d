"""Where an attack's results live in a run folder, by its settings, so that no request erases another's.

An attack's settings are of two kinds:
- list settings (relearning's `steps`, quantisation's `bits`) choose which labels (k10, 4bit) are
  computed. They are merged, never replaced: a request for labels that a complete folder lacks
  computes the union of its lists and the new ones, and the folder then holds all of them (a grid's
  `steps=[0,5]` after `steps=[0,10]` keeps k10 and adds k5);
- scalar settings (lr, batch_size, library, n_examples, ...) change what every label means. The
  folder `attacks/<name>/` holds the attack at its default scalar settings (what the robustness score
  reads: harness/robustness.py); any other scalar settings go to their own folder,
  `attacks/<name>@<key>=<value>,...` (the settings that differ from the defaults, in the Config's
  order), e.g. `attacks/relearn@lr=0.01`, so a different learning rate never replaces the default's
  numbers.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

SEP = "@"  # attack name @ its non-default scalar settings


def _is_list(v) -> bool:
    return isinstance(v, (list, tuple))


def _text(v) -> str:
    """A setting's value in a folder name: stable and filesystem-safe (floats as Python's shortest
    round-trip repr, e.g. 0.01, 1e-05)."""
    s = ("true" if v else "false") if isinstance(v, bool) else repr(v) if isinstance(v, float) else str(v)
    return re.sub(r"[^A-Za-z0-9.+-]", "-", s)


def scalars(acfg) -> dict:
    """The settings that are not lists, in the Config's order."""
    return {f.name: getattr(acfg, f.name) for f in dataclasses.fields(acfg) if not _is_list(getattr(acfg, f.name))}


def folder_name(attack, acfg) -> str:
    """`<name>` at the default scalar settings, else `<name>@k=v,...` with the ones that differ."""
    default = scalars(attack.Config())
    diff = [(k, v) for k, v in scalars(acfg).items() if v != default.get(k)]
    return attack.name if not diff else attack.name + SEP + ",".join(f"{k}={_text(v)}" for k, v in diff)


def attack_of(folder: str) -> str:
    """The attack a results folder name belongs to (`relearn@lr=0.01` -> relearn)."""
    return folder.split(SEP, 1)[0]


def is_default(folder: str) -> bool:
    """Whether a results folder holds the attack at its default scalar settings."""
    return SEP not in folder


def covers(done: dict, wanted: dict) -> bool:
    """Whether a complete attack with settings `done` already holds what `wanted` asks for: the same
    settings, where a list (relearning's steps, quantisation's bits) may hold more than asked. So the
    grid's short curve is skipped after `make robustness` computed the whole one."""
    for k, v in wanted.items():
        d = done.get(k)
        if _is_list(v) and _is_list(d):
            if not set(map(str, v)) <= set(map(str, d)):
                return False
        elif d != v:
            return False
    return True


def done_settings(out: Path) -> dict | None:
    """The settings of the complete attack in `out`, or None (absent, incomplete or unreadable)."""
    if not (out / "status.json").exists():
        return None
    try:
        done = yaml.safe_load((out / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    return done if isinstance(done, dict) else None


def merged(acfg, done: dict):
    """`acfg` with every list setting the sorted union of its own and `done`'s: what a folder holding
    `done` is computed again with, so that none of its labels is lost."""
    union = {f.name: sorted(set(getattr(acfg, f.name)) | set(done[f.name])) for f in dataclasses.fields(acfg)
             if _is_list(getattr(acfg, f.name)) and _is_list(done.get(f.name))}
    return dataclasses.replace(acfg, **union)


def same_scalars(acfg, done: dict) -> bool:
    return all(done.get(k) == v for k, v in scalars(acfg).items())


def misplaced(attack, out: Path, done: dict) -> Path | None:
    """Where a complete folder whose scalar settings are not its name's belongs (a folder written
    before results were kept per settings), or None when its settings cannot be read as the attack's."""
    try:
        cfg = attack.Config(**done)
    except TypeError:
        return None
    return out.parent / folder_name(attack, cfg)


def parse_attack_column(col: str, metrics) -> tuple[str, str, str] | None:
    """(attack folder, label, metric) of a column attack_columns wrote, or None: the longest metric of
    `metrics` that ends the column, then the label (labels hold no '_'), and before it the results
    folder's name, which must be a registered attack's (relearn_ood: names may hold '_') or one of
    its settings folders (`relearn@lr=0.01`, whose settings may hold '_')."""
    from harness.attacks import load_attacks
    metric = next((m for m in sorted(metrics, key=len, reverse=True) if col.endswith("_" + m)), None)
    if metric is None:
        return None
    head, _, label = col[:-len(metric) - 1].rpartition("_")
    if not head or not label or attack_of(head) not in load_attacks():
        return None
    return head, label, metric
