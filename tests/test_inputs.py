"""What a run reads and where it writes, as a new user meets it: a changed data file or a replaced
model is a different run (never a stale one), bad results folders and data folders are one line
(exit 2) before any compute, a `run` that another process holds waits for it, and the messages say
what happened (a typo in a task file, a run folder given as a model, why a run was skipped, its
numbers)."""
import json
import shutil
import threading
import time

import pytest

from harness import runs
from harness.cli import main
from harness.config import load_run_config
from harness.io import local


def _models(tiny_grid) -> dict:
    """The session grid's models (base, target, retain) and its synthetic world folder."""
    out, _, _ = tiny_grid
    folder = next(f for f in (out / "results" / "runs").iterdir() if "-grad_ascent-" in f.name)
    return {k: str(local(v)) for k, v in json.loads((folder / "provenance.json").read_text())["models"].items()}


def _lines(capsys) -> list[str]:
    return [x for x in capsys.readouterr().err.strip().splitlines() if x]


def _read(folder, name):
    return json.loads((folder / name).read_text())


def _cut(path, n):
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:n]))


def test_a_changed_data_file_is_a_different_run(tiny_grid, tiny, tmp_path, capsys):
    """The same command after forget10's files were cut to 2 rows: a new run on 2 items, not the old
    folder reported as "skipped" with its 4."""
    m = _models(tiny_grid)
    data = tmp_path / "data"
    shutil.copytree(m["source"], data)
    args = ["run", "task=tofu_forget10", "method=grad_ascent", f"dataset={data}", f"model.base={m['base']}",
            f"model.target={m['target']}", f"model.retain={m['retain']}", f"results_dir={tmp_path / 'r'}", *tiny,
            "--quiet"]
    assert main(args) == 0
    (first,) = list((tmp_path / "r" / "runs").iterdir())
    assert _read(first, "metrics.json")["forget_n"] == 4
    assert _read(first, "provenance.json")["inputs"]["data"]["forget10.jsonl"][1]  # its sha256
    for name in ("forget10.jsonl", "forget10_perturbed.jsonl"):
        _cut(data / name, 2)
    capsys.readouterr()
    assert main(args) == 0
    assert "skipped" not in capsys.readouterr().err
    (second,) = [f for f in (tmp_path / "r" / "runs").iterdir() if f != first]
    assert _read(second, "metrics.json")["forget_n"] == 2


def test_a_replaced_model_is_a_different_evaluation(tiny_grid, tiny, tmp_path):
    m = _models(tiny_grid)
    model = tmp_path / "model"
    shutil.copytree(m["target"], model)
    args = ["eval", str(model), "task=tofu_forget10", f"results_dir={tmp_path / 'r'}", *tiny, "--quiet"]
    assert main(args) == 0
    shutil.rmtree(model)
    time.sleep(1.1)  # a new modification time, even on a file system with one-second stamps
    shutil.copytree(m["retain"], model)
    assert main(args) == 0
    a, b = sorted((tmp_path / "r" / "runs").iterdir())
    assert _read(a, "metrics.json")["forget_quality"] != _read(b, "metrics.json")["forget_quality"]


@pytest.mark.parametrize("command", ["run", "eval", "grid"])
def test_a_results_dir_that_cannot_be_written_is_one_line(command, tiny, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for bad, words in ((a_file, "is a file"), (a_file / "sub", "is a file"), ("/proc/no/results", "cannot be written")):
        rc = main([command, *(["configs/grid_default.yaml"] if command == "grid" else []), f"results_dir={bad}", *tiny])
        err = _lines(capsys)
        assert rc == 2 and len(err) == 1 and err[0].startswith("error: results_dir") and words in err[0], err


def test_attack_and_leaderboard_folders_that_cannot_be_written_are_one_line(tiny_grid, tmp_path, capsys):
    out, _, _ = tiny_grid
    run = tmp_path / "run"
    shutil.copytree(next(f for f in (out / "results" / "runs").iterdir() if "-npo-" in f.name), run)
    shutil.rmtree(run / "attacks", ignore_errors=True)
    (run / "attacks").write_text("not a folder")
    assert main(["attack", str(run), "quantize", "bits=[8]"]) == 2
    err = _lines(capsys)
    assert len(err) == 1 and "is a file" in err[0], err
    assert main(["leaderboard", "--results", str(run / "attacks")]) == 2
    err = _lines(capsys)
    assert len(err) == 1 and "does not exist" in err[0], err


def test_a_run_held_by_another_process_is_waited_for(tiny_grid, tiny, tmp_path, capsys):
    """A live claim (this process's pid, so it is not stale) released after two seconds: `run` waits,
    then computes it, and exits 0 with the run complete (not "left to it")."""
    m = _models(tiny_grid)
    args = ["task=tofu_forget10", "method=grad_ascent", f"model.base={m['base']}", f"model.target={m['target']}",
            f"model.retain={m['retain']}", f"results_dir={tmp_path}", *tiny]
    r = runs.resolve(load_run_config(None, args))
    lock = tmp_path / ".claims" / f"{r.run_id}.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"host": __import__("socket").gethostname(), "pid": __import__("os").getpid(),
                                "started": time.time()}))
    threading.Timer(2.0, lock.unlink).start()
    assert main(["run", *args, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "waiting for it" in err and "left to it" not in err
    assert _read(r.folder, "status.json")["status"] == "complete"


def test_data_folders_are_not_accepted_silently(tiny_grid, tiny, tmp_path, capsys):
    m = _models(tiny_grid)
    base = ["run", "task=tofu_forget10", "method=grad_ascent", f"model.base={m['base']}", f"model.target={m['target']}",
            f"model.retain={m['retain']}", f"results_dir={tmp_path / 'r'}", *tiny]
    two = tmp_path / "two"
    shutil.copytree(m["source"], two)
    shutil.copy(two / "forget10.jsonl", two / "forget10.json")  # a .json beside the .jsonl
    assert main([*base, f"dataset={two}"]) == 2
    err = _lines(capsys)
    assert len(err) == 1 and "two files for split 'forget10'" in err[0], err
    odd = tmp_path / "odd"
    shutil.copytree(m["source"], odd)
    _cut(odd / "forget10_perturbed.jsonl", 3)  # the evaluation asks about fewer items than are unlearned
    assert main([*base, f"dataset={odd}"]) == 2
    err = _lines(capsys)
    assert len(err) == 1 and "ask different questions" in err[0], err
    assert not (tmp_path / "r" / "runs").exists() or not list((tmp_path / "r" / "runs").iterdir())


def test_forget_quality_from_few_items_carries_a_warning(tiny_grid):
    out, _, _ = tiny_grid
    folder = next(f for f in (out / "results" / "runs").iterdir() if "-grad_ascent-" in f.name)
    (warning,) = _read(folder, "status.json")["warnings"]
    assert "forget_quality from 4 items" in warning and "0.029" in warning  # 2 / C(8, 4) = 1/35


def test_messages_say_what_happened(tiny_grid, tiny, tmp_path, capsys):
    out, _, _ = tiny_grid
    task = tmp_path / "t.yaml"
    task.write_text("name: t\nversion: 1\nfamily: tofu\nsplts: {forget: forget01}\n")
    assert main(["run", f"task={task}", f"results_dir={tmp_path}"]) == 2
    err = _lines(capsys)
    assert err == [f"error: {task}: unknown task key 'splts'; did you mean 'splits'? (valid: name, version, family, "
                   f"description, dataset, splits, eval, lm_eval_tasks, requests, metrics, path)"], err
    run = next(f for f in (out / "results" / "runs").iterdir() if "-npo-" in f.name)
    assert main(["eval", str(run), f"results_dir={tmp_path}"]) == 2
    err = _lines(capsys)
    assert len(err) == 1 and "is a run folder, not a model: its model is" in err[0], err
    m = _models(tiny_grid)
    args = ["run", "task=tofu_forget10", "method=grad_ascent", f"model.base={m['base']}",
            f"model.target={m['target']}", f"model.retain={m['retain']}", f"results_dir={tmp_path / 'r'}", *tiny,
            "--quiet"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "evaluating 32 items of tofu_forget10" in err and "metrics: forget_quality" in err
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "skipped: complete already in" in err and "--force computes it again" in err and "metrics:" in err


def test_deterministic_rows_are_one_run_whatever_the_seed():
    ids = {runs.resolve(load_run_config(None, [*a, f"seed={s}"])).run_id for s in (0, 1, 2)
           for a in [["method=incontext", "method_args.policy=pretend"]]}
    assert len(ids) == 1 and "-s0-" in ids.pop()
    ids = {runs.resolve(load_run_config(None, ["method=none", "start=retain", f"seed={s}"])).run_id for s in (0, 3)}
    assert len(ids) == 1
    ids = {runs.resolve(load_run_config(None, ["method=incontext", "method_args.policy=icul", f"seed={s}"])).run_id
           for s in (0, 1)}
    assert len(ids) == 2  # ICUL draws its retain examples with the seed: a real replicate
