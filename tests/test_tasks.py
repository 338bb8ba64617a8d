"""Schema tests over every task file in tasks/."""
import pytest

from harness.families.muse import data as musedata
from harness.families.tofu import world
from harness.families.wmdp import world as hazard_world
from harness.families.muse import world as news_world
from harness.families.wmdp.mcq import load_corpus, load_mcq
from harness.config import ConfigError
from harness.data import load_split
from harness.tasks import get_task, list_tasks, load_task_file
from harness.families import get_track

TASKS = list_tasks()


def test_there_are_tasks():
    assert {"tofu_forget01", "tofu_forget05", "tofu_forget10", "wmdp_synthetic", "wmdp_real"} <= set(TASKS)


@pytest.mark.parametrize("name", TASKS)
def test_task_schema(name, tmp_path):
    t = get_task(name)
    track = get_track(t.family)
    assert t.name == name and t.version >= 1
    kinds = {"tofu": {"forget", "retain", "real_authors", "world_facts"}, "wmdp": {"hazard", "general"},
             "muse": {"verbmem", "knowmem_forget", "knowmem_retain", "privleak_forget", "privleak_holdout"}}[t.family]
    if t.family == "tofu":
        from harness.families.tofu.track import OPTIONAL_KINDS
        assert kinds <= set(t.eval) <= kinds | set(OPTIONAL_KINDS) and isinstance(t.splits.forget, str)
        # the real-world numbers are declared exactly by the tasks that ask the real-world questions
        assert ("real_world" in t.eval) == ("real_world_accuracy" in t.metrics) == ("real_world_n" in t.metrics)
        assert {"forget_quality", "model_utility", "forget_rouge", "privleak"} <= set(t.metrics)
    elif t.family == "muse":
        assert kinds <= set(t.eval) and isinstance(t.splits.forget, str)
        assert {"verbmem", "knowmem_forget", "knowmem_retain", "privleak"} <= set(t.metrics)
        assert t.metrics["privleak"].direction == "zero" and t.metrics["knowmem_retain"].role == "utility"
    else:
        assert all(t.mcq_tasks(k) for k in kinds)
        assert {"hazard_acc", "general_acc", "hazard_acc_drop", "general_acc_drop"} <= set(t.metrics)
        assert t.metrics["hazard_acc"].chance == 0.25
    assert set(t.metrics) <= set(track.metrics) | set(track.extra_metrics(t))
    for spec in t.metrics.values():
        assert spec.direction in ("higher", "lower", "zero", "retain") and spec.role in ("forget", "utility")
        assert spec.direction != "retain" or spec.reference.startswith("retain_model_")
    assert any(s.headline for s in t.metrics.values())
    if t.dataset == "synthetic":  # every split it names exists in the world and validates
        # the default profile: 40 authors, so a difference of nested forget splits (`A-B`) is non-empty
        d = world.build(tmp_path, "default", 0)
        from harness.families.tofu.track import OPTIONAL_KINDS
        shipped = [k for k, v in t.eval.items() if OPTIONAL_KINDS.get(k) == v]  # built in, not world files
        for split in [t.splits.full, t.splits.forget, t.splits.retain, t.splits.holdout,
                      *(v for k, v in t.eval.items() if k not in shipped)]:
            assert load_split(str(d), split)
    if t.dataset == "synthetic_news":  # every split it names exists in the world and validates
        d = news_world.build(tmp_path, "tiny", 0)
        names = [*t.splits.model_splits("target"), *t.splits.model_splits("retain"), t.splits.forget,
                 t.splits.retain, t.splits.holdout, *t.requests, *(v for v in t.eval.values() if isinstance(v, str))]
        for split in names:
            assert musedata.load(str(d), split)
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


def test_a_tofu_task_is_a_few_lines_over_the_shared_file():
    text = open(get_task("tofu_forget10").path).read()
    assert "include: _tofu.yaml" in text and len(text.strip().splitlines()) <= 10
    assert "_tofu" not in list_tasks()  # shared parts are not tasks


def test_bad_task_files(tmp_path):
    (tmp_path / "_base.yaml").write_text(open(get_task("tofu_forget10").path.replace("tofu_forget10", "_tofu")).read())
    head = "include: _base.yaml\nname: t\nversion: 3\nsplits: {forget: forget10, retain: retain90, holdout: holdout10}\n" \
           "eval: {forget: forget10_perturbed}\n"
    f = tmp_path / "t.yaml"
    f.write_text(head)
    t = load_task_file(f)  # the shared file's keys merged in, every declared metric selected
    assert t.eval["real_authors"] == "real_authors_perturbed" and t.splits.full == "full"
    assert t.metrics["forget_quality"].aggregate == "median"
    f.write_text(head + "metrics: [forget_quality, forget_rogue]\n")
    with pytest.raises(ConfigError, match="unknown metric 'forget_rogue' for family tofu; did you mean 'forget_rouge'"):
        load_task_file(f)
    f.write_text(head + "metrics: {forget_rouge: {direction: higher}}\n")
    with pytest.raises(ConfigError, match="only headline, description can be set in a task file"):
        load_task_file(f)
    f.write_text(head + "metrics: {forget_rouge: {headline: maybe}}\n")
    with pytest.raises(ConfigError, match="metrics.forget_rouge.headline"):
        load_task_file(f)
    f.write_text(head.replace("version: 3", "version: 0"))
    with pytest.raises(ConfigError, match="version"):
        load_task_file(f)
    f.write_text(head.replace("_base.yaml", "_nope.yaml"))
    with pytest.raises(ConfigError, match="include '_nope.yaml' not found"):
        load_task_file(f)
    f.write_text("include: t.yaml\n")
    with pytest.raises(ConfigError, match="include cycle"):
        load_task_file(f)
    f.write_text(head + "family: tofuu\n")
    with pytest.raises(ConfigError, match="unknown task family 'tofuu'; did you mean 'tofu'"):
        load_task_file(f)
    with pytest.raises(ConfigError, match="did you mean 'tofu_forget10'"):
        get_task("tofu_forget1O")


def test_the_synthetic_hazard_task_names_the_subjects_its_world_trains_with():
    """The prompt's first line names the subject; evaluating under another subject than the practice
    questions used (once: 'geography' for the cooking questions) silently costs accuracy."""
    from harness.families.wmdp.world import SUBJECTS
    t = get_task("wmdp_synthetic")
    assert t.eval["hazard"] == {"hazard_mcq": SUBJECTS["hazard"]}
    assert t.eval["general"] == {"general_mcq": SUBJECTS["general"]}
