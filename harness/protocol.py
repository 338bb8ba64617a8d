"""A sweep's protocol, checked on the data: selection never sees an item of the test data.

The validation data (what the trials and reference rows load) and the test data (what the final runs
load) are compared item by item before anything runs, each as the track loads it: every forget and
retain row and every evaluation set (TOFU: the forget, retain, utility and holdout sets; MUSE: every
split the task names; the hazard track: every corpus document and every multiple-choice question).
An item is its text with whitespace collapsed: a question-answer row or a multiple-choice question by
its question, a document by its text, a verbatim-memorisation row by its prompt. An item id such as
'forget01:0' names a row of one source only (every synthetic world has one), so ids count as well only
when both sides read the same folder or hub id. One shared item refuses the sweep: a configuration
can hide the same rows (the same world reached through another task or another dataset name, a
validation split nested in the reported one), the data cannot.
"""
from __future__ import annotations

from typing import Iterator

from harness.config import ConfigError
from harness.io import shorten

NOT_ITEMS = ("refusals", "refusals_file")   # refusal answers are training targets, not items of a set


def items(data: dict, name: str = "") -> Iterator[tuple[str, object]]:
    """(set name, row) for every item of a run's data (the dict the track's load_data returns): lists
    of rows or documents, a list of lists (several corpora, or sequential requests) one set each, and
    nested mappings (evaluation sets, multiple-choice files) walked through."""
    if isinstance(data, dict):
        for k, v in data.items():
            if not (name == "" and k in NOT_ITEMS):   # a multiple-choice file's rows are named by the file
                yield from items(v, name if (k == "rows" and name) else f"{name}.{k}" if name else str(k))
    elif isinstance(data, list):
        if data and all(isinstance(x, list) for x in data):
            for i, x in enumerate(data):
                yield from items(x, f"{name}[{i}]")
        else:
            for row in data:
                yield name, row


def text(row) -> str | None:
    """The item's identity: its question, prompt or text (a bare string is a document), whitespace
    collapsed; None for a row with none of them."""
    if isinstance(row, str):
        t = row
    elif isinstance(row, dict):
        t = next((row[k] for k in ("question", "prompt", "text") if isinstance(row.get(k), str)), None)
    else:
        t = None
    return " ".join(t.split()) if t else None


def _keys(row, same_source: bool) -> list:
    t = text(row)
    keys = [("text", t)] if t else []
    if same_source and isinstance(row, dict) and isinstance(row.get("id"), str):
        keys.append(("id", row["id"]))
    return keys


def shared(validation: dict, test: dict, same_source: bool) -> tuple[int, tuple | None]:
    """(how many validation items the test data holds too, counted by text; one of them as (text,
    its validation set, its test set), or None)."""
    where: dict = {}
    for name, row in items(test):
        for key in _keys(row, same_source):
            where.setdefault(key, name)
    hits: dict = {}
    for name, row in items(validation):
        keys = _keys(row, same_source)
        hit = next((k for k in keys if k in where), None)
        if hit is not None and keys[0] not in hits:
            hits[keys[0]] = (text(row) or str(row.get("id")), name, where[hit])
    return len(hits), next(iter(hits.values()), None)


def check(path: str, val, test, val_data: dict, test_data: dict) -> None:
    """Refuse (one ConfigError) a sweep whose validation data (run `val`, its data) shares an item with
    its test data (run `test`): harness.runs.Resolved, data as harness.runs.load_data returns it."""
    from harness.models import dataset_source
    same = dataset_source(val.cfg, val.task) == dataset_source(test.cfg, test.task)
    for role in ("target", "retain"):   # a model trained on the test data is no model of the validation data
        ref = getattr(val.cfg.model, role)
        if ref and ref == getattr(test.cfg.model, role) and not same:
            raise ConfigError(f"{path}: model.{role}={ref} is given for the test data and would be reused on the "
                              f"validation data: add \"model.{role}=\" to validation.overrides (a {role} model "
                              f"trained on the validation data), or name the validation data's own")
    n, example = shared(val_data, test_data, same)
    if not n:
        return
    t, vset, tset = example
    quoted = f'"{shorten(t, 60)}"'
    seed = next(s for s in (1, 2, 3, 5) if s % 4 != test.cfg.world.seed % 4 and s != val.cfg.world.seed)
    synthetic = (test.cfg.dataset or test.task.dataset) in val.track.worlds
    fix = f'"world.seed={seed}"' if synthetic else f'"dataset=synthetic", "world.seed={seed}"'
    raise ConfigError(f"{path}: the validation data shares {n} item{'s' if n > 1 else ''} with the test data "
                      f"(e.g. {quoted}, validation {vset} / test {tset}): selection would see test items; "
                      f"validate on data of its own, e.g. validation: {{overrides: [{fix}]}}")
