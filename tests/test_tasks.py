"""Schema tests over every task file in tasks/."""
import pytest

from harness import hazard_world, world
from harness.mcq import load_corpus, load_mcq
from harness.config import ConfigError
from harness.data import load_split
from harness.tasks import FAMILIES, KNOWN_METRICS, get_task, list_tasks, load_task_file

TASKS = list_tasks()


def test_there_are_tasks():
    assert {"tofu_forget01", "tofu_forget05", "tofu_forget10", "wmdp_synthetic", "wmdp_real"} <= set(TASKS)


@pytest.mark.parametrize("name", TASKS)
def test_task_schema(name, tmp_path):
    t = get_task(name)
    assert t.name == name and t.version >= 1 and t.family in FAMILIES
    kinds = set(FAMILIES[t.family])
    assert set(t.eval) == kinds or set(t.lm_eval_tasks) == kinds
    assert set(t.metrics) <= KNOWN_METRICS
    assert {"forget_quality", "model_utility"} <= set(t.metrics) if t.family == "tofu" else \
        {"hazard_acc", "general_acc"} <= set(t.metrics)
    for spec in t.metrics.values():
        assert spec.direction in ("higher", "lower", "zero") and spec.role in ("forget", "utility")
    if t.dataset == "synthetic":  # every split it names exists in the world and validates
        d = world.build(tmp_path, "tiny", 0)
        for split in [t.splits.full, t.splits.forget, t.splits.retain, t.splits.holdout, *t.eval.values()]:
            assert load_split(str(d), split)
    if t.dataset == "synthetic_hazard":
        d = hazard_world.build(tmp_path, "tiny", 0)
        assert load_corpus(d / f"{t.splits.forget}.jsonl") and load_corpus(d / f"{t.splits.retain}.jsonl")
        for stem in t.eval.values():
            assert load_mcq(d / f"{stem}.jsonl")


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
