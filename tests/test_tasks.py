"""Schema tests over every task file in tasks/."""
import pytest

from harness import world
from harness.config import ConfigError
from harness.data import load_split
from harness.tasks import EVAL_KINDS, KNOWN_METRICS, get_task, list_tasks, load_task_file

TASKS = list_tasks()


def test_there_are_tasks():
    assert {"tofu_forget01", "tofu_forget05", "tofu_forget10"} <= set(TASKS)


@pytest.mark.parametrize("name", TASKS)
def test_task_schema(name, tmp_path):
    t = get_task(name)
    assert t.name == name and t.version >= 1
    assert set(t.eval) == set(EVAL_KINDS)
    assert set(t.metrics) <= KNOWN_METRICS and "forget_quality" in t.metrics and "model_utility" in t.metrics
    for spec in t.metrics.values():
        assert spec.direction in ("higher", "lower", "zero") and spec.role in ("forget", "utility")
    if t.dataset == "synthetic":  # every split it names exists in the world and validates
        d = world.build(tmp_path, "tiny", 0)
        for split in [t.splits.full, t.splits.forget, t.splits.retain, t.splits.holdout, *t.eval.values()]:
            assert load_split(str(d), split)


def test_bad_task_files(tmp_path):
    good = (get_task("tofu_forget10").path)
    text = open(good).read()
    f = tmp_path / "t.yaml"
    f.write_text(text.replace("forget_rouge:", "forget_rogue:"))
    with pytest.raises(ConfigError, match="unknown metric 'forget_rogue'; did you mean 'forget_rouge'"):
        load_task_file(f)
    f.write_text(text.replace("direction: lower", "direction: down", 1))
    with pytest.raises(ConfigError, match=r"direction higher\|lower\|zero"):
        load_task_file(f)
    f.write_text(text.replace("version: 2", "version: 0"))
    with pytest.raises(ConfigError, match="version"):
        load_task_file(f)
    with pytest.raises(ConfigError, match="did you mean 'tofu_forget10'"):
        get_task("tofu_forget1O")
