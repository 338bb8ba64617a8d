"""Contract tests over every registered track (task family): the interface the pipeline relies on,
complete metric declarations, and each family's tasks through the same path."""
import dataclasses

import pytest

from harness.tasks import DIRECTIONS, MetricSpec, get_task, list_tasks
from harness.families import INTERFACE, get_track, load_tracks
from harness.config import ConfigError

TRACKS = sorted(load_tracks())


def test_the_families_are_registered():
    assert {"tofu", "wmdp"} <= set(TRACKS)
    with pytest.raises(ConfigError, match="unknown task family 'wmpd'; did you mean 'wmdp'"):
        get_track("wmpd")


@pytest.mark.parametrize("name", TRACKS)
def test_track_interface(name):
    t = get_track(name)
    missing = [a for a in INTERFACE if not hasattr(t, a)]
    assert missing == [], f"track {name} lacks {missing}"
    assert t.name == name and t.title and t.start in t.roles
    assert set(t.roles) <= {"base", "target", "retain"}
    if t.refusals:
        assert callable(getattr(t, "refusal_set", None))
    robust = t.metrics[t.robustness_metric]   # a forget metric with a direction of knowledge
    assert robust.role == "forget" and robust.direction in ("lower", "higher")


@pytest.mark.parametrize("name", TRACKS)
def test_metric_declarations_are_complete(name):
    t = get_track(name)
    assert t.metrics and any(s.headline for s in t.metrics.values())
    assert {s.role for s in t.metrics.values()} == {"forget", "utility"}  # forgetting and what survives
    for m, s in t.metrics.items():
        assert isinstance(s, MetricSpec) and s.direction in DIRECTIONS and s.role in ("forget", "utility"), m
        assert s.direction != "retain" or s.reference, f"{m}: direction retain needs the retain model's column"
        assert s.direction != "retain" or s.needs == "retain", f"{m}: read against the retain model: needs=retain"
        assert not s.needs or s.needs in t.roles, f"{m}: needs the {s.needs} model, which family {name} does not prepare"
        assert s.aggregate in ("mean", "median")


@pytest.mark.parametrize("name", TRACKS)
def test_every_family_has_a_task_and_its_tasks_load(name):
    tasks = [get_task(n) for n in list_tasks() if get_task(n).family == name]
    assert tasks, f"no task file for family {name}"
    for task in tasks:
        declared = {**get_track(name).metrics, **get_track(name).extra_metrics(task)}
        for m, spec in task.metrics.items():  # a task changes presentation only
            d = dataclasses.asdict(declared[m])
            got = dataclasses.asdict(spec)
            assert {k: v for k, v in got.items() if k not in ("headline", "description")} == \
                   {k: v for k, v in d.items() if k not in ("headline", "description")}


@pytest.mark.parametrize("name", TRACKS)
def test_every_family_evaluates_a_tiny_model(name, tiny, tmp_path):
    """The same path for every family: its synthetic task, the start model evaluated as is; every
    metric the task declares is in the run folder, as a finite number."""
    import json
    import math

    from harness.cli import main
    task = next(get_task(n) for n in list_tasks() if get_task(n).family == name
                and get_task(n).dataset in get_track(name).worlds)
    assert main(["run", f"task={task.name}", "method=none", *tiny,
                 f"results_dir={tmp_path}", "--quiet"]) == 0
    metrics = json.loads(next((tmp_path / "runs").glob("*/metrics.json")).read_text())
    for m in task.metrics:
        if m == "privleak" and metrics.get(m) is None:  # undefined only where the retain model's AUC is 0
            assert metrics["retain_model_mia_auc_min_k"] == 0, name
            continue
        assert isinstance(metrics.get(m), (int, float)) and math.isfinite(metrics[m]), f"{name}: {m}"
