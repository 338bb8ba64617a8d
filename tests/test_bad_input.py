"""Every bad input stops with one line, exit status 2, before any model is trained."""
import json
import os

import pytest

from harness.cli import main


def _err(capsys, argv):
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err[-1] if err else ""


@pytest.mark.parametrize("argv, expected", [
    (["run", "method=gradient_ascnt"], "unknown method 'gradient_ascnt'; did you mean 'grad_ascent'"),
    (["run", "task=tofu_forget11"], "unknown task 'tofu_forget11'"),
    (["run", "unlearn.bach_size=2"], "unknown config key 'unlearn.bach_size'; did you mean 'unlearn.batch_size'"),
    (["run", "seed=one"], "config key 'seed': expected int, got 'one'"),
    (["run", "unlearn.lr=-1"], "config key 'unlearn.lr': expected a finite number > 0, got -1"),
    (["run", "start=middle"], "config key 'start': expected one of auto, target, retain, base"),
    (["run", "task=wmdp_synthetic", "start=target"], "task 'wmdp_synthetic' has no target model (family wmdp prepares base): set start=base"),
    (["run", "method=graddiff", "method_args.beta=1"], "unknown config key 'method_args.beta'"),
    (["run", "model.target=/no/such/model"], "folder '/no/such/model' does not exist"),
    (["run", "dataset=/no/such/data"], "dataset folder '/no/such/data' does not exist"),
    (["run", "world.profile=huge"], "config key 'world.profile': expected one of tiny, small, default, full"),
    (["run", "method=loku"], "method 'loku' trains LoRA adapters only: set adapter.kind=lora"),
    (["run", "adapter.kind=qlora"], "'adapter.kind': expected one of none, lora"),
    (["run", "method=idkdpo", "task=wmdp_synthetic"], "needs refusal answers to questions"),
    (["run", "method=npo", "model.evaluate=./x"], "model.evaluate names a model to evaluate as is"),
    (["run", "method=none", "adapter.kind=lora"], "method=none evaluates a model as is"),
])
def test_one_line_errors(capsys, argv, expected, tmp_path):
    rc, line = _err(capsys, argv + [f"results_dir={tmp_path}"])
    assert rc == 2
    assert line.startswith("error: ") and expected in line
    assert not (tmp_path / "runs").exists()


def test_bad_dataset_stops_before_training(capsys, tmp_path, harness_cache):
    """A TOFU-layout folder with a missing column: the grid refuses before any model is built."""
    data = tmp_path / "tofu"
    data.mkdir()
    rows = [{"question": f"q{i}?", "answer": f"a{i}."} for i in range(4)]
    for split in ("full", "forget10", "retain90", "holdout10"):
        (data / f"{split}.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pert = [{**r, "paraphrased_answer": "p.", "perturbed_answer": ["w."]} for r in rows]
    (data / "forget10_perturbed.json").write_text("".join(json.dumps(r) + "\n" for r in pert))
    (data / "retain_perturbed.json").write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "paraphrased_answer"}) + "\n" for r in pert))
    models_before = set(os.listdir(harness_cache / "models")) if (harness_cache / "models").exists() else set()
    rc, line = _err(capsys, ["run", f"dataset={data}", f"results_dir={tmp_path / 'r'}"])
    assert rc == 2 and "retain_perturbed.json: row 1 has no column 'paraphrased_answer'" in line
    now = set(os.listdir(harness_cache / "models")) if (harness_cache / "models").exists() else set()
    assert now == models_before


def test_layer_out_of_range_stops_before_unlearning(capsys, tmp_path, tiny):
    rc, line = _err(capsys, ["run", "method=rmu", "method_args.layer=5", f"results_dir={tmp_path}", *tiny])
    assert rc == 2 and "'method_args.layer': 5 is out of range; the model has 1 decoder layers" in line
    assert not (tmp_path / "runs").exists()


def test_grid_file_errors(capsys, tmp_path):
    g = tmp_path / "g.yaml"
    g.write_text("tasks: [tofu_forget10]\nmethod: [graddiff]\n")
    rc, line = _err(capsys, ["grid", str(g)])
    assert rc == 2 and "unknown grid key 'method'; did you mean 'methods'" in line
    rc, line = _err(capsys, ["run", "a.yaml", "b.yaml"])
    assert rc == 2 and "at most one config file" in line


def test_grid_shards_partition_the_runs(capsys):
    assert main(["grid", "--count"]) == 0
    total = int(capsys.readouterr().out.strip())
    counts = []
    for i in range(3):
        assert main(["grid", "--shard", f"{i}/3", "--count"]) == 0
        counts.append(int(capsys.readouterr().out.strip()))
    assert sum(counts) == total and total > 0
    rc, line = _err(capsys, ["grid", "--shard", "3/3"])
    assert rc == 2 and "--shard" in line
