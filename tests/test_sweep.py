"""Sweeps (harness/sweep.py, selection.py, selected.py, sweep_cmd.py): the selection rules on hand-computed
cases, every bad sweep file refused in one line before any compute, and a tiny sweep end to end (trials on
the validation world, the rule's pick run on the test world, the leaderboard's selected view rebuilt from
the run folders, a rerun that computes nothing)."""
import json
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.config import ConfigError
from harness.selection import parse_rule, rule_from_dict, rule_to_dict, select
from harness.tasks import get_task

TOFU = get_task("tofu_forget01").metrics


def _rule(d):
    return parse_rule(d, TOFU, "test")


def test_maximise_subject_to_a_fraction_of_the_target():
    rule = _rule({"maximize": "forget_quality", "subject_to": ["model_utility >= 0.9 * target"]})
    trials = [{"forget_quality": 0.5, "model_utility": 0.9}, {"forget_quality": 0.8, "model_utility": 0.7},
              {"forget_quality": 0.6, "model_utility": 0.95}, None]   # None: a diverged trial
    s = select(rule, trials, {"target": {"model_utility": 1.0}})
    # 0.9 >= 0.9 x 1.0 holds (trial 0), 0.7 does not (trial 1): the best of {0, 2} by forget quality is 2
    assert (s.index, s.feasible, s.n_feasible) == (2, True, 2)
    assert rule.text() == "maximise forget_quality subject to model_utility >= 0.9 x target"
    assert rule_from_dict(rule_to_dict(rule)) == rule


def test_no_trial_feasible_picks_the_smallest_shortfall():
    rule = _rule({"maximize": "forget_quality", "subject_to": ["model_utility >= 0.99"]})
    trials = [{"forget_quality": 0.5, "model_utility": 0.9}, {"forget_quality": 0.8, "model_utility": 0.7},
              {"forget_quality": 0.6, "model_utility": 0.95}]
    s = select(rule, trials, {})
    # shortfalls (0.99 - u) / 0.99: 0.0909, 0.293, 0.0404 -> trial 2, marked infeasible
    assert (s.index, s.feasible, s.n_feasible) == (2, False, 0) and "0.0404" in s.why


def test_minimise_ties_go_to_the_earlier_trial_and_missing_references_are_said():
    rule = _rule({"minimize": "forget_rouge"})
    s = select(rule, [{"forget_rouge": 0.3}, {"forget_rouge": 0.2}, {"forget_rouge": 0.2}], {})
    assert s.index == 1
    rule = _rule({"minimize": "forget_rouge", "subject_to": "model_utility >= 1 * retain"})
    s = select(rule, [{"forget_rouge": 0.3, "model_utility": 0.5}], {})
    assert s.index is None and "reference" in s.why


def test_knee_of_the_pareto_front():
    rule = _rule({"knee": ["forget_quality", "model_utility"]})
    pts = [(0.0, 1.0), (0.5, 0.9), (0.9, 0.6), (1.0, 0.0), (0.4, 0.4)]
    trials = [{"forget_quality": x, "model_utility": y} for x, y in pts]
    # front: the first four ((0.4, 0.4) is dominated); chord from (0, 1) to (1, 0): distance |x + y - 1| / sqrt 2,
    # 0.283 for (0.5, 0.9), 0.354 for (0.9, 0.6): the knee is trial 2
    assert select(rule, trials, {}).index == 2
    # a lower-is-better axis is flipped: minimising forget_rouge = maximising -forget_rouge
    rule = _rule({"knee": ["forget_rouge", "model_utility"]})
    trials = [{"forget_rouge": 1 - x, "model_utility": y} for x, y in pts]
    assert select(rule, trials, {}).index == 2
    # a front of two points: the one nearest the ideal corner, on the scale of every trial. Oriented:
    # (0, .2), (-.5, .9), (-.6, 0) (dominated); normalised (1, .222), (.167, 1): distances .778 and .833
    three = [{"forget_rouge": 0.0, "model_utility": 0.2}, {"forget_rouge": 0.5, "model_utility": 0.9},
             {"forget_rouge": 0.6, "model_utility": 0.0}]
    assert select(rule, three, {}).index == 0


def test_the_knee_is_above_the_chord():
    """Kneedle's knee is the farthest point on the ideal corner's side of the chord (a signed distance);
    a dent towards the bad corner is never the knee."""
    rule = _rule({"knee": ["forget_quality", "model_utility"]})
    # normalised: (1, 0), (.5, .2), (0, 1); the chord x + y = 1 and the middle point below it (.7 < 1):
    # no knee, so the end point nearest (1, 1): both ends are at distance 1, the tie goes to trial 0
    dent = [{"forget_quality": x, "model_utility": y} for x, y in ((0.9, 0.50), (0.5, 0.52), (0.1, 0.60))]
    assert select(rule, dent, {}).index == 0
    # already on [0, 1]; chord x + y = 1: (.3, .75) is above it by .05 / sqrt 2 = .035, (.8, .1) below
    # by .1 / sqrt 2 = .071 (farther, on the wrong side): the knee is trial 1
    pts = [(0.0, 1.0), (0.3, 0.75), (0.8, 0.1), (1.0, 0.0)]
    assert select(rule, [{"forget_quality": x, "model_utility": y} for x, y in pts], {}).index == 1


@pytest.mark.parametrize("rule, expected", [
    ({"maximize": "forget_qualty"},
     "metric 'forget_qualty' is not declared by the task; did you mean 'forget_quality'"),
    ({"maximize": "forget_quality", "minimize": "forget_rouge"}, "give exactly one of maximize, minimize, knee"),
    ({"maximize": "forget_quality", "subject_to": ["model_utility > 0.9"]}, "is not '<metric> >= <number>"),
    ({"knee": ["privleak", "model_utility"]}, "metric 'privleak' has no higher/lower direction"),
    ({"maximise": "forget_quality"}, "unknown key 'maximise'"),
])
def test_bad_rules(rule, expected):
    with pytest.raises(ConfigError, match=None) as e:
        _rule(rule)
    assert expected in str(e.value)


def _sweep_file(tmp_path, tiny, **change) -> Path:
    spec = {"name": "t", "version": 1, "task": "tofu_forget01", "validation": {"overrides": ["world.seed=1"]},
            "methods": {"graddiff": {"unlearn.lr": [1.0e-4, 5.0e-3]}, "npo": {"unlearn.lr": [1.0e-3, 5.0e-3]}},
            "budget": 2, "overrides": tiny + [f"results_dir={tmp_path / 'results'}"],
            "resources": {"gpus": 0, "cpus": 1, "mem_gb": 4, "time_min": 10},
            "select": {"maximize": "forget_quality", "subject_to": ["model_utility >= 0.9 * target"]}}
    for k, v in change.items():
        if v is None:
            spec.pop(k)
        else:
            spec[k] = v
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("change, expected", [
    ({"methods": {"graddiff": {"unlearn.lrr": [1.0e-3]}}},
     "unknown config key 'unlearn.lrr'; did you mean 'unlearn.lr'"),
    ({"methods": {"graddiff": {"unlearn.lr": ["fast"]}}}, "config key 'unlearn.lr': expected"),
    ({"methods": {"graddiff": {"unlearn.epochs": [0]}}}, "config key 'unlearn.epochs'"),
    ({"methods": {"graddiff": {"world.seed": [3]}}}, "axis 'world.seed' cannot be swept"),
    ({"methods": {"graddif": {"unlearn.lr": [1.0e-3]}}}, "unknown method 'graddif'; did you mean 'graddiff'"),
    ({"methods": {"graddiff": {"unlearn.lr": 1.0e-3}}}, "expected a non-empty list of values"),
    ({"select": {"maximize": "hazard_acc"}}, "metric 'hazard_acc' is not declared by the task"),
    ({"resources": {"gpus": 64}}, "sweep key 'resources.gpus'"),
    ({"resources": {"gpus": 1}}, "resources.gpus=1 but this machine has no CUDA GPU"),
    ({"resources": {"mem_gb": 0}}, "sweep key 'resources.mem_gb'"),
    ({"validation": {"overrides": []}}, "the validation data is the test data"),
    ({"validation": {"overrides": ["world.seed=1", "unlearn.epochs=2"]}}, "'unlearn.epochs=2' does not choose data"),
    ({"validation": {"overrides": ["world.seed=1", "model.base=x"]}}, "'model.base=x' does not choose data"),
    ({"budgett": 3}, "unknown sweep key 'budgett'; did you mean 'budget'"),
    ({"task": "tofu_forget11"}, "unknown task 'tofu_forget11'"),
])
def test_bad_sweep_files_are_one_line_exit_2(tmp_path, tiny, capsys, change, expected):
    import torch
    if "CUDA" in expected and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    path = _sweep_file(tmp_path, tiny, **change)
    rc = main(["sweep", str(path), "--dry-run"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err and err[-1].startswith("error: ") and expected in err[-1], err
    assert not list((tmp_path / "results" / "runs").glob("*"))   # no run folder (the folder may be made)


def test_the_dry_run_plans_without_computing(tmp_path, tiny, capsys):
    path = _sweep_file(tmp_path, tiny)
    assert main(["sweep", str(path), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "rule: maximise forget_quality subject to model_utility >= 0.9 x target" in plan
    assert plan.count("to run") == 5 and "reference target" in plan   # 4 trials + the target on the validation world
    assert not list((tmp_path / "results" / "runs").glob("*"))   # no run folder (the folder may be made)


def test_a_tiny_sweep_end_to_end(tiny_sweep, tmp_path, capsys):
    import shutil

    import pandas as pd
    path, res = tiny_sweep
    folders = {f.name: yaml.safe_load((f / "config.yaml").read_text()) for f in (res / "runs").iterdir()
               if (f / "status.json").exists()}
    roles = {i: c["sweep"]["role"] for i, c in folders.items()}
    assert sorted(roles.values()) == ["final", "final", "reference", "trial", "trial", "trial", "trial"]
    for i, c in folders.items():   # trials and references on the validation world, finals on the test world
        assert c["world"]["seed"] == (0 if roles[i] == "final" else 1) and c["task"] == "tofu_forget01"
    sel = pd.read_csv(res / "leaderboard_selected.csv")
    assert sorted(sel["method"]) == ["graddiff", "npo"] and set(sel["n_trials"]) == {2}
    ref_id = next(i for i, r in roles.items() if r == "reference")
    target = json.loads((res / "runs" / ref_id / "metrics.json").read_text())
    for _, row in sel.iterrows():   # the rule applied by hand to the trials' metrics.json
        trials = [(i, json.loads((res / "runs" / i / "metrics.json").read_text())) for i, c in folders.items()
                  if roles[i] == "trial" and c["method"] == row["method"]]
        ok = [(i, m) for i, m in trials if m["model_utility"] >= 0.9 * target["model_utility"]]
        if ok:
            best = max(m["forget_quality"] for _, m in ok)
            want = {i for i, m in ok if m["forget_quality"] == best}
        else:
            want = {min(trials, key=lambda t: 0.9 * target["model_utility"] - t[1]["model_utility"])[0]}
        assert row["selected_trial"] in want and row["feasible"] == bool(ok)
        final = folders[row["run_id"]]
        assert final["unlearn"]["lr"] == folders[row["selected_trial"]]["unlearn"]["lr"]
        assert final["sweep"]["trials"] and set(final["sweep"]["trials"]) == {i for i, _ in trials}
        assert row["tuning_flops"] > 0 and "the final run is not" not in row["selection"]
    main_rows = pd.read_csv(res / "leaderboard.csv") if (res / "leaderboard.csv").stat().st_size > 1 else None
    assert main_rows is None or main_rows.empty           # a sweep's runs are not in the main table
    assert len(pd.read_csv(res / "leaderboard_sweep.csv")) == 5
    # again, on a copy: every run is complete, nothing is computed, with one process and with two workers
    copy = tmp_path / "results"
    shutil.copytree(res, copy)
    spec = yaml.safe_load(path.read_text())
    spec["overrides"] = [o for o in spec["overrides"] if not o.startswith("results_dir=")] + [f"results_dir={copy}"]
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    stamps = {f: (copy / "runs" / f / "status.json").stat().st_mtime_ns for f in folders}
    capsys.readouterr()
    assert main(["sweep", str(path)]) == 0
    err = capsys.readouterr().err
    assert err.count("  skipped: ") == 7 and "  complete: " not in err
    assert main(["sweep", str(path), "--workers", "2"]) == 0   # two worker processes, both phases: nothing new
    assert stamps == {f: (copy / "runs" / f / "status.json").stat().st_mtime_ns for f in folders}
    assert len(list((copy / "runs").iterdir())) == len(list((res / "runs").iterdir()))
    # the leaderboard is a function of the run folders: a lost trial is reported, not silently ignored
    lost = next(i for i, r in roles.items() if r == "trial")
    shutil.rmtree(copy / "runs" / lost)
    assert main(["leaderboard", "--results", str(copy)]) == 0
    assert pd.read_csv(copy / "leaderboard_selected.csv")["n_missing"].sum() == 1


def test_a_validation_task_on_a_validation_world(tmp_path, tiny, capsys):
    """validation.task tunes on another task of the family (here forget05 of the validation world, for
    forget01 on the test world), checked and planned without compute; a task of another family is refused."""
    spec = {"name": "v", "task": "tofu_forget01",
            "validation": {"task": "tofu_forget05", "overrides": ["world.seed=1"]},
            "methods": {"graddiff": {"unlearn.lr": [1.0e-4, 1.0e-3]}}, "budget": 2,
            "overrides": tiny + [f"results_dir={tmp_path / 'results'}"], "select": {"maximize": "forget_quality"}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 trials and 0 reference rows on the validation data (world.seed=1, task=tofu_forget05)" in out
    from harness import sweep as SW
    sw = SW.load_sweep(str(path))
    assert {(t.cfg.task, t.cfg.world.seed) for t in sw.trials} == {("tofu_forget05", 1)}
    final = SW.final_config(sw, sw.trials[0], [], {})
    assert (final.task, final.world.seed) == ("tofu_forget01", 0)
    spec["validation"] = {"task": "wmdp_synthetic"}
    path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(path), "--dry-run"]) == 2
    assert "validation.task wmdp_synthetic is of family wmdp" in capsys.readouterr().err


def test_command_line_overrides_reach_the_final_runs(tmp_path):
    """`harness sweep FILE key=value ...`: the command line's overrides mean the same for the trials and
    the final runs (after the file's); only the validation overrides tell them apart."""
    from harness import sweep as SW
    out = tmp_path / "elsewhere"
    sw = SW.load_sweep(str(_sweep_file(tmp_path, [])), ["unlearn.epochs=1", f"results_dir={out}", "world.profile=tiny"])
    final = SW.final_config(sw, sw.of("npo")[1], ["a", "b"], {})
    for cfg in (sw.of("npo")[1].cfg, final):
        assert (cfg.unlearn.epochs, cfg.results_dir, cfg.world.profile) == (1, str(out), "tiny")
        assert cfg.unlearn.lr == 5.0e-3
    assert (sw.of("npo")[1].cfg.world.seed, final.world.seed) == (1, 0)


# tasks/tofu_val05.yaml as it was: forget10's authors outside forget05, to tune forget05 (or forget10) on
# (its holdout was holdout10-holdout05; since world format 3 every holdout split is the whole pool)
VAL05 = """include: {tasks}/_tofu.yaml
name: tofu_val05
version: 1
description: the forget10 authors outside forget05
splits: {{forget: forget10-forget05, retain: retain90, holdout: holdout10}}
eval: {{forget: forget10_perturbed-forget05_perturbed}}
"""


@pytest.mark.parametrize("task, validation, n, example", [
    # forget10 holds every forget05 author; the worlds' other sets are shared too (default profile:
    # 40 authors x 10 QA, one holdout pool of 8 authors (80 QA), 40 + 45 utility questions): 400 + 80 + 85
    ("tofu_forget05", {"task": "tofu_forget10"}, 565, "validation forget / test retain"),
    # half of forget10's own authors (its retain set is forget10's): forget 20, retain 360, holdout 80, utility 85
    ("tofu_forget10", {"task": "VAL05"}, 545, "validation forget / test forget"),
    # another dataset name for the same world folder: everything (400 + the holdout's 80 + 85)
    ("tofu_forget01", {"overrides": ["dataset=synthetic"]}, 565, "validation forget / test forget"),
])
def test_validation_data_holding_test_items_is_refused(tmp_path, tiny, capsys, task, validation, n, example):
    """The protocol is checked on the data, item by item, before anything runs (--dry-run too): one line."""
    from harness.tasks import TASKS_DIR
    if validation.get("task") == "VAL05":
        (tmp_path / "val05.yaml").write_text(VAL05.format(tasks=TASKS_DIR.resolve()))
        validation = {"task": str(tmp_path / "val05.yaml")}
    path = _sweep_file(tmp_path, tiny + ["world.profile=default"], task=task, validation=validation)
    assert main(["sweep", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}: the validation data shares {n} items with the "
                                               f"test data (e.g. "), err
    assert example in err[0] and 'validation: {overrides: ["world.seed=1"]}' in err[0]
    assert not list((tmp_path / "results" / "runs").glob("*"))


def _tofu_folder(folder: Path, seed: int) -> Path:
    """A local copy in the hub layout of locuslab/TOFU (JSON lines named .json): a synthetic world's files."""
    from harness.families.tofu import world as authors
    folder.mkdir()
    for stem, rows in authors.generate("tiny", seed).items():
        (folder / f"{stem}.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_real_tofu_is_validated_on_a_synthetic_world(tmp_path, tiny, capsys):
    """TOFU has one world, and its forget splits are nested: a sweep reported on a local TOFU folder tunes
    on a synthetic world, with its own target model (`model.target=`: fine-tuned on that world) rather
    than the one given for TOFU. The check compares the data, not the names: a TOFU folder that holds
    the validation world's items is refused though its path differs."""
    from harness import sweep as SW
    tofu, target = _tofu_folder(tmp_path / "TOFU", 0), tmp_path / "tofu_target"
    target.mkdir()   # a model fine-tuned on TOFU (only its config is read before anything runs)
    (target / "config.json").write_text(json.dumps({"model_type": "llama"}))
    val = ["dataset=synthetic", "world.seed=1", "model.target="]
    path = _sweep_file(tmp_path, tiny + [f"dataset={tofu}", f"model.target={target}"], validation={"overrides": val})
    assert main(["sweep", str(path), "--dry-run"]) == 0
    assert "on the validation data (dataset=synthetic, world.seed=1, model.target=)" in capsys.readouterr().out
    sw = SW.load_sweep(str(path))
    assert {(t.cfg.dataset, t.cfg.world.seed, t.cfg.model.target) for t in sw.trials} == {("synthetic", 1, "")}
    final = SW.final_config(sw, sw.trials[0], [], {})
    assert (final.dataset, final.model.target) == (str(tofu), str(target))
    # without model.target=, the trials would unlearn TOFU's target on the synthetic world
    path = _sweep_file(tmp_path, tiny + [f"dataset={tofu}", f"model.target={target}"],
                       validation={"overrides": val[:2]})
    assert main(["sweep", str(path), "--dry-run"]) == 2
    assert f"model.target={target} is given for the test data" in capsys.readouterr().err
    # a folder that holds the validation world's items (here: all of them; tiny: 40 + 8 holdout + 16 utility)
    copy = _tofu_folder(tmp_path / "TOFU1", 1)
    path = _sweep_file(tmp_path, tiny + [f"dataset={copy}"], validation={"overrides": val[:2]})
    assert main(["sweep", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the validation data shares 64 items with the test data" in err[0], err
    assert '"dataset=synthetic", "world.seed=2"' in err[0]


def test_estimated_items_by_hand():
    """The dry-run's items: ~4 characters a token, + BOS and EOS; a QA row one item (with its template,
    "Question: ...\nAnswer:" and a space: 19 characters) cut at max_len, a document row cut into windows
    of max_len, a bare string one item; a list of lists is one group per corpus."""
    from harness.sweep import estimated_items
    qa = estimated_items([{"question": "a" * 8, "answer": "b" * 8, "id": "ignored"}], 256)
    assert [(len(e.answer), e.group) for e in qa] == [(round(35 / 4) + 2, 0)]   # 9 + 2
    doc = estimated_items([{"text": "y" * 4000}], 256)          # 1000 + 2 tokens -> 256 + 256 + 256 + 234
    assert [len(e.answer) for e in doc] == [256, 256, 256, 234]
    corpora = estimated_items([["z" * 40, "z" * 4000], ["w" * 2]], 256)   # a string is cut, not split
    assert [(len(e.answer), e.group) for e in corpora] == [(12, 0), (256, 0), (3, 1)]


def test_the_dry_run_plans_document_and_hazard_sweeps(tmp_path, tiny, capsys):
    """The steps of a plan are the loop's: per corpus (groups) on the hazard track, per request on a
    sustainability task (4 requests of 4 documents), with token budgets."""
    import re
    for task, method, extra, steps in (
            ("wmdp_synthetic", "graddiff", ["unlearn.batch_size=8"], None),
            ("muse_news_synthetic_sust", "npo", ["unlearn.batch_size=3"], 4 * 2 * 2),   # 4 x 2 epochs x ceil(4/3)
            ("muse_news_synthetic_sust", "npo", ["unlearn.batch_tokens=100000"], 4 * 2 * 1)):
        spec = {"name": "d", "task": task, "validation": {"overrides": ["world.seed=1"]},
                "methods": {method: {"unlearn.lr": [1.0e-4]}}, "budget": 1,
                "overrides": tiny + ["unlearn.epochs=2", f"results_dir={tmp_path / 'r'}", *extra],
                "select": {"minimize" if task.startswith("wmdp") else "maximize":
                           "hazard_acc" if task.startswith("wmdp") else "knowmem_retain"}}
        path = tmp_path / "d.yaml"
        path.write_text(yaml.safe_dump(spec))
        assert main(["sweep", str(path), "--dry-run"]) == 0
        row = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(method))
        planned = int(re.split(r"\s+", row.split("unlearn.lr=0.0001")[1].strip())[0])
        if steps is None:  # one batch per 8 documents of each corpus, 2 epochs
            from harness.runs import load_data, resolve
            from harness.sweep import load_sweep
            data = load_data(resolve(load_sweep(str(path)).trials[0].cfg))
            steps = 2 * sum(-(-len(docs) // 8) for docs in data["forget"])
        assert planned == steps, (task, row)
    assert not list((tmp_path / "r" / "runs").glob("*"))


def test_the_plan_counts_the_steps_the_runs_took(tiny_sweep):
    from harness.runs import load_data, resolve
    from harness.sweep import load_sweep, plan_rows
    path, res = tiny_sweep
    sw = load_sweep(str(path))
    resolved = [resolve(t.cfg) for t in sw.trials]
    rows = plan_rows(sw, resolved, {id(r): load_data(r) for r in resolved})
    done = 0
    for row, r in zip(rows, resolved):
        if r.method is not None:  # (tokens are estimated at 4 characters a token: the tiny world's
            # 400-token vocabulary takes about 2.4; the default world's is within 1%, docs/sweeps.md)
            assert row["steps"] == json.loads((r.folder / "compute.json").read_text())["steps"] > 0, row
            done += 1
    assert done == 4


def _off_rule_copy(tiny_sweep, tmp_path) -> tuple[Path, str]:
    """A copy of the tiny sweep's folders in which graddiff's other trial now beats the selected one (its
    metrics rewritten as if it had been rerun): graddiff's final run is no longer the rule's choice."""
    import shutil

    import pandas as pd
    _, res0 = tiny_sweep
    res = tmp_path / "results"
    shutil.copytree(res0 / "runs", res / "runs")
    row = pd.read_csv(res0 / "leaderboard_selected.csv").set_index("method").loc["graddiff"]
    final = yaml.safe_load((res / "runs" / row["run_id"] / "config.yaml").read_text())
    other = next(i for i in final["sweep"]["trials"] if i != row["selected_trial"])
    m = json.loads((res / "runs" / other / "metrics.json").read_text())
    m.update(forget_quality=2.0, model_utility=1.0e6)   # beyond every trial, and above 0.9 x the target's
    (res / "runs" / other / "metrics.json").write_text(json.dumps(m))
    assert main(["leaderboard", "--results", str(res)]) == 0
    return res, other


def test_a_final_that_is_not_the_rules_choice_is_flagged(tiny_sweep, tmp_path):
    """The CSV says which final runs are the rule's choice (rule_choice), and so does the page's data."""
    import re

    import pandas as pd
    res, other = _off_rule_copy(tiny_sweep, tmp_path)
    sel = pd.read_csv(res / "leaderboard_selected.csv").set_index("method")
    assert sel["rule_choice"].to_dict() == {"graddiff": False, "npo": True}
    assert sel.loc["graddiff", "selected_trial"] == other
    assert sel.loc["graddiff", "selection"].startswith("the final run is not the rule's choice")
    html = (res / "leaderboard.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S).group(1))
    assert {r["method"]: r["rule_choice"] for r in data["selected"]} == {"graddiff": False, "npo": True}


def test_a_final_that_is_not_the_rules_choice_on_the_page(tiny_sweep, tmp_path):
    """In a real browser (tests/test_page.py's Chromium; skipped where it is missing): the row has the
    badge, whose title is the reason, and its numbers are grey; the other row is as it was."""
    import os
    chromium = os.environ.get("HARNESS_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.skip(f"Chromium not found at {chromium}: the browser check is SKIPPED")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    res, _ = _off_rule_copy(tiny_sweep, tmp_path)
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((res / "leaderboard.html").as_uri())
        rows = page.locator("section#selected table.selected tbody tr")
        rows.first.wait_for()
        by_method = {r.locator("td").first.inner_text().split("\n")[0].split("not the")[0].replace("infeasible", "")
                     .strip(): r for r in rows.all()}
        off, on = by_method["graddiff"], by_method["npo"]
        badge = off.locator("span.badge.off-rule")
        assert badge.inner_text() == "not the rule's choice"
        assert badge.get_attribute("title").startswith("the final run is not the rule's choice")
        assert off.get_attribute("class") == "off-rule" and on.locator("span.badge.off-rule").count() == 0
        grey = "rgb(153, 153, 153)"
        color = lambda row, i: row.locator("td").nth(i).evaluate("e => getComputedStyle(e).color")  # noqa: E731
        assert color(off, 4) == grey and color(on, 4) != grey and color(off, 0) != grey
        assert errors == []
        browser.close()
