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
    if t.family == "tofu":
        assert set(t.eval) == kinds and isinstance(t.splits.forget, str)
        assert {"forget_quality", "model_utility", "forget_rouge", "privleak"} <= set(t.metrics)
    else:
        assert all(t.mcq_tasks(k) for k in kinds)
        assert {"hazard_acc", "general_acc", "hazard_acc_drop", "general_acc_drop"} <= set(t.metrics)
        assert t.metrics["hazard_acc"].chance == 0.25
    known = KNOWN_METRICS | {f"{x}_acc" for k in kinds if t.family == "wmdp" for x in t.mcq_tasks(k)}
    assert set(t.metrics) <= known
    for spec in t.metrics.values():
        assert spec.direction in ("higher", "lower", "zero", "retain") and spec.role in ("forget", "utility")
        assert spec.direction != "retain" or spec.reference.startswith("retain_model_")
    assert any(s.headline for s in t.metrics.values())
    if t.dataset == "synthetic":  # every split it names exists in the world and validates
        d = world.build(tmp_path, "tiny", 0)
        for split in [t.splits.full, t.splits.forget, t.splits.retain, t.splits.holdout, *t.eval.values()]:
            assert load_split(str(d), split)
    if t.dataset == "synthetic_hazard":
        d = hazard_world.build(tmp_path, "tiny", 0)
        for stem in [*t.splits.forget_list, t.splits.retain]:
            assert load_corpus(d / f"{stem}.jsonl")
        for kind in kinds:
            for stem in t.eval[kind]:
                assert load_mcq(d / f"{stem}.jsonl")


def test_mia_aucs_are_read_against_the_retain_model():
    t = get_task("tofu_forget10")
    for attack in ("loss", "zlib", "min_k", "min_k_pp"):
        spec = t.metrics[f"mia_auc_{attack}"]
        assert spec.direction == "retain" and spec.reference == f"retain_model_mia_auc_{attack}"
    assert t.metrics["forget_quality"].aggregate == "median"
    assert t.metrics["forget_quality"].companions == ["ks_stat", "ks_n"]


def test_bad_task_files(tmp_path):
    good = (get_task("tofu_forget10").path)
    text = open(good).read()
    f = tmp_path / "t.yaml"
    f.write_text(text.replace("forget_rouge:", "forget_rogue:"))
    with pytest.raises(ConfigError, match="unknown metric 'forget_rogue'; did you mean 'forget_rouge'"):
        load_task_file(f)
    f.write_text(text.replace("direction: lower", "direction: down", 1))
    with pytest.raises(ConfigError, match=r"metrics.forget_rouge.direction': expected one of higher, lower, zero, retain"):
        load_task_file(f)
    f.write_text(text.replace("direction: retain, reference: retain_model_mia_auc_loss,", "direction: retain,"))
    with pytest.raises(ConfigError, match="mia_auc_loss: direction retain needs 'reference'"):
        load_task_file(f)
    f.write_text(text.replace("version: 3", "version: 0"))
    with pytest.raises(ConfigError, match="version"):
        load_task_file(f)
    with pytest.raises(ConfigError, match="did you mean 'tofu_forget10'"):
        get_task("tofu_forget1O")
