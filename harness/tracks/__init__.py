"""Task families ("tracks") as plug-ins: one module per family in this folder, registered with
@register_track and discovered automatically, so a new family edits no other file.

A track is a class; the harness makes one instance of it. What the pipeline (harness/runs.py), the
task loader (harness/tasks.py), the models (harness/models.py) and the leaderboard ask of it:

    name              the family name task files give as `family:`
    title             the heading of its section on the leaderboard page
    start             the model a run starts from when start=auto ("target", or "base")
    roles             the models it needs prepared ("base", "target", "retain")
    refusals          whether refusal answers to questions make sense (IdkDPO)
    worlds            {dataset name: build(cache_root, profile, seed) -> folder}: synthetic data it builds
    metrics           {name: MetricSpec}: every metric it computes, each declared once, here
    check_task(task, where)                 family-specific checks of a task file (one-line errors)
    extra_metrics(task)                     metrics that depend on the task (e.g. one per subject)
    load_data(task, source, cfg, needs_refusals)   every split a run touches, validated before training;
                                            with task.requests, data["requests"]: each request's forget rows
    training_sets(fmt, data)                the forget and retain examples of the unlearning loop
    model_examples(source, splits, fmt, replay)   (tracks with a target) what target / retain train on
    refusal_set(fmt, data, seed)            (refusals only) a refusal answer to each forget question
    reference(task, paths, data, cfg)       cached numbers of the reference model (retain / base)
    evaluate(model, tok, fmt, task, data, ref, cfg, progress) -> (metrics, items, cost)
    plots(rows, task, chance)               the page's figures for one task (inline SVG strings)

No base class: the contract test (tests/test_tracks.py) checks every registered track has all of it.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil

from harness.config import ConfigError
from harness.schema import did_you_mean

TRACKS: dict[str, object] = {}
INTERFACE = ("name", "title", "start", "roles", "refusals", "worlds", "metrics", "check_task", "extra_metrics",
             "load_data", "training_sets", "reference", "evaluate", "plots")


def register_track(name: str):
    """Class decorator: register one instance of the class under `name`."""
    def wrap(cls):
        if name in TRACKS:
            raise ValueError(f"track '{name}' registered twice")
        obj = cls()
        obj.name = name
        TRACKS[name] = obj
        return cls
    return wrap


@functools.cache
def _discover() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


def load_tracks() -> dict[str, object]:
    """Import every module in this folder (each registers itself), once per process: every run
    asks for its track, and the folder need not be listed each time."""
    _discover()
    return TRACKS


def get_track(name: str):
    tracks = load_tracks()
    if name not in tracks:
        raise ConfigError(f"unknown task family '{name}'{did_you_mean(name, sorted(tracks))} "
                          f"(available: {', '.join(sorted(tracks))})")
    return tracks[name]
