"""Attacks declared in a grid file (harness/grid.py): run on every method run once it is complete, never
on the reference rows, with one or several workers; bad attack entries are one line, exit 2, before any
compute."""
import json

import pytest

from conftest import TINY
from harness.cli import main


def _grid(tmp_path, body: str):
    path = tmp_path / "grid.yaml"
    path.write_text("tasks: [tofu_forget10]\nmethods: [npo, grad_ascent]\nadapters: [none]\nbaselines: [target]\n"
                    f"overrides: {json.dumps(TINY)}\n" + body)
    return path


ATTACKS = 'attacks: {quantize: ["bits=[8]"], relearn: ["steps=[0,2]", "items_per_author=2"]}\n'


@pytest.mark.parametrize("workers", [1, 2])
def test_grid_attacks_every_method_run_once(tmp_path, workers, capsys):
    results = tmp_path / "results"
    args = ["grid", str(_grid(tmp_path, ATTACKS)), f"results_dir={results}", f"--workers={workers}", "--quiet"]
    assert main(args) == 0
    runs = sorted((results / "runs").iterdir())
    attacked = {p.name.split("-")[1]: sorted(a.name for a in (p / "attacks").glob("*") if (a / "status.json").exists())
                for p in runs}
    assert attacked == {"grad_ascent": ["quantize", "relearn"], "npo": ["quantize", "relearn"], "target": []}
    npo = next(p for p in runs if "-npo-" in p.name)
    relearn = json.loads((npo / "attacks" / "relearn" / "status.json").read_text())
    assert relearn["labels"] == ["k0", "k2"] and relearn["control"]
    # the leaderboard carries the attack columns; a second grid skips every run and attack
    header = (results / "leaderboard.csv").read_text().splitlines()[0].split(",")
    assert "quantize_8bit_forget_rouge" in header and "relearn_k2_forget_quality" in header
    before = (npo / "attacks" / "quantize" / "8bit" / "metrics.json").stat().st_mtime_ns
    assert main(args) == 0
    assert (npo / "attacks" / "quantize" / "8bit" / "metrics.json").stat().st_mtime_ns == before


@pytest.mark.parametrize("body,expected", [
    ('attacks: {quantise: []}\n', "did you mean 'quantize'"),
    ('attacks: {quantize: ["bits=[3]"]}\n', "bits"),
    ('attacks: {quantize: "bits=[4]"}\n', "expected a list of key=value"),
    ('attacks: {relearn: []}\n', "the forget split has one author"),   # checked on the run's data
    ('attacks: {quantize: []}\nattack_tasks: [tofu_forget05]\n', "attack_tasks names tofu_forget05"),
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
    assert "attack paraphrase does not apply to task wmdp_synthetic" in err and len(err.splitlines()) == 1
