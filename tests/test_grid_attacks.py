"""Attacks declared in a grid file (harness/grid.py): run on every method run once it is complete, never
on the reference rows, with one or several workers; bad attack entries are one line, exit 2, before any
compute."""
import json

import pytest

from conftest import TINY
from harness.cli import main
from two_authors import two_author_world


def _grid(tmp_path, body: str, dataset=None):
    path = tmp_path / "grid.yaml"
    overrides = TINY + ([f"dataset={dataset}"] if dataset else [])
    path.write_text("tasks: [tofu_forget10]\nmethods: [npo, grad_ascent]\nadapters: [none]\nbaselines: [target]\n"
                    f"overrides: {json.dumps(overrides)}\n" + body)
    return path


ATTACKS = ('attacks: {quantize: ["bits=[4]"], relearn: ["steps=[0,10]"]}\n'
           'task_overrides: {tofu_forget10: ["unlearn.curve_every=1"]}\n')


@pytest.mark.parametrize("workers", [1, 2])
def test_grid_attacks_every_method_run_once(tmp_path, workers, capsys):
    results = tmp_path / "results"
    # relearning needs two forget authors: the two-author copy of the tiny world (two_authors.py)
    grid = _grid(tmp_path, ATTACKS, two_author_world(tmp_path))
    args = ["grid", str(grid), f"results_dir={results}", f"--workers={workers}", "--quiet"]
    assert main(args) == 0
    runs = sorted((results / "runs").iterdir())
    attacked = {p.name.split("-")[1]: sorted(a.name for a in (p / "attacks").glob("*") if (a / "status.json").exists())
                for p in runs}
    assert attacked == {"grad_ascent": ["quantize", "relearn"], "npo": ["quantize", "relearn"], "target": []}
    npo = next(p for p in runs if "-npo-" in p.name)
    assert (npo / "curve.jsonl").exists()            # task_overrides reach the task's method runs ...
    assert not any((p / "curve.jsonl").exists() for p in runs if "-target-" in p.name)  # ... not its baselines
    relearn = json.loads((npo / "attacks" / "relearn" / "status.json").read_text())
    assert relearn["labels"] == ["k0", "k10"] and relearn["control"]
    # recovery from the numbers beside it, and the run's robustness from the two recoveries
    rec = {}
    for attack, label in (("quantize", "4bit"), ("relearn", "k10")):
        m = json.loads((npo / "attacks" / attack / label / "metrics.json").read_text())
        target = json.loads((npo / "attacks" / attack / "target.json").read_text())
        before = (json.loads((npo / "metrics.json").read_text()) if attack == "quantize" else
                  json.loads((npo / "attacks" / attack / "k0" / "metrics.json").read_text()))
        removed = target["before"]["forget_prob"] - before["forget_prob"]
        assert m["removed"] == pytest.approx(removed)              # the mean of the per-item differences
        assert m["removed"] >= 2 * m["removed_se"] > 0             # measurably removed: recovery is defined
        expected = min(1, max(0, (m["forget_prob_change"] - m["control_forget_prob_change"]) / removed))
        assert m["recovery_metric"] == "forget_prob" and m["recovery"] == pytest.approx(expected)
        assert m["target_forget_prob"] == target[label]["forget_prob"]
        rec[attack] = m["recovery"]
    s_q, s_r = 1 - rec["quantize"], 1 - rec["relearn"]
    import csv
    row = next(r for r in csv.DictReader((results / "leaderboard.csv").open()) if r["method"] == "npo")
    assert float(row["robustness"]) == pytest.approx(2 * s_q * s_r / (s_q + s_r))
    assert "quantize_4bit_forget_rouge" in row and "relearn_k10_recovery" in row and "relearn_k10_removed" in row
    # a second grid skips every run and attack
    before = (npo / "attacks" / "quantize" / "4bit" / "metrics.json").stat().st_mtime_ns
    assert main(args) == 0
    assert (npo / "attacks" / "quantize" / "4bit" / "metrics.json").stat().st_mtime_ns == before


@pytest.mark.parametrize("body,expected", [
    ('attacks: {quantise: []}\n', "did you mean 'quantize'"),
    ('attacks: {quantize: ["bits=[3]"]}\n', "bits"),
    ('attacks: {quantize: "bits=[4]"}\n', "expected a list of key=value"),
    ('attacks: {relearn: []}\n', "the forget split has one author"),   # checked on the run's data
    ('attacks: {quantize: []}\nattack_tasks: [tofu_forget05]\n', "attack_tasks names tofu_forget05"),
    ('task_overrides: {tofu_forget05: ["unlearn.lr=1"]}\n', "task_overrides names tofu_forget05"),
])
def test_bad_grid_attacks_are_one_line_before_any_compute(tmp_path, capsys, body, expected):
    results = tmp_path / "results"
    assert main(["grid", str(_grid(tmp_path, body)), f"results_dir={results}", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1, err
    assert not (results / "runs").exists()


def test_an_attack_must_apply_to_the_grid_tasks(tmp_path, capsys):
    path = tmp_path / "grid.yaml"
    path.write_text("tasks: [wmdp_synthetic]\nmethods: [rmu]\nattacks: {paraphrase: []}\n")
    assert main(["grid", str(path), f"results_dir={tmp_path / 'r'}", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "attack paraphrase does not apply to task family wmdp (task wmdp_synthetic" in err
    assert len(err.splitlines()) == 1
