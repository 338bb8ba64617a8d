"""A grid submitted as a job array through submitit (harness/executors.py), tested with submitit's
local executor: models prepared once first, the array's tasks share the runs, a second submission
skips what is complete; site settings come from flags or a file, never from code."""
import json
from argparse import Namespace

import pytest

from harness.cli import main
from harness.config import ConfigError
from harness.executors import site_settings


def test_site_settings_from_a_file_and_flags(tmp_path, monkeypatch):
    env = tmp_path / "site.env"
    env.write_text("# our cluster\npartition = gpu\naccount=proj1\nconstraint=a100\n")
    ns = Namespace(slurm_env=str(env), slurm_partition=None, slurm_account="proj2", slurm_qos=None)
    assert site_settings(ns) == {"partition": "gpu", "account": "proj2", "constraint": "a100"}
    monkeypatch.setenv("HARNESS_SLURM_ENV", str(env))
    assert site_settings(Namespace(slurm_env=None, slurm_partition=None, slurm_account=None,
                                   slurm_qos="high"))["qos"] == "high"
    env.write_text("partition gpu\n")
    with pytest.raises(ConfigError, match="site.env:1: expected key=value"):
        site_settings(ns)


def _grid(tmp_path, tiny):
    g = tmp_path / "g.yaml"
    g.write_text("tasks: [tofu_forget10]\nmethods: [grad_ascent, graddiff]\nbaselines: [target]\n"
                 f"overrides: {json.dumps(tiny)}\n")
    return g


def _submit(argv):
    """The CLI in its own process, as a user runs it (submitit's local executor juggles file descriptors
    that pytest's output capture also holds)."""
    import os
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True, timeout=900,
                          env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_submitted_grid_runs_once_and_skips_on_resubmission(tiny, tmp_path):
    g, res = _grid(tmp_path, tiny), tmp_path / "results"
    argv = ["grid", str(g), f"results_dir={res}", "--executor", "submitit-local", "--jobs", "2", "--quiet"]
    _submit(argv)
    done = sorted(p.name for p in (res / "runs").iterdir() if (p / "status.json").exists())
    assert len(done) == 3 and (res / "leaderboard.csv").exists()
    stamps = {p: (res / "runs" / p / "status.json").stat().st_mtime_ns for p in done}
    logs = list((res / "submitit").glob("*_log.out"))
    assert len(logs) >= 3  # the preparation job and the two array tasks
    _submit(argv)  # again: every run is complete, nothing is recomputed
    assert {p: (res / "runs" / p / "status.json").stat().st_mtime_ns for p in done} == stamps


@pytest.mark.parametrize("extra, expected", [
    (["--executor", "submitit-local", "--jobs", "0"], "--jobs 0: expected at least 1"),
    (["--executor", "submitit-local", "--workers", "2"], "--shard and --workers do not apply"),
    (["--executor", "slurm", "--slurm-env", "/no/such/file"], "--slurm-env: file '/no/such/file' not found"),
    (["--executor", "submitit-local", "--gpus", "2", "--procs-per-run", "4"],
     "--procs-per-run 4: more than the 2 GPUs a task asks for"),
    (["--executor", "submitit-local", "--procs-per-run", "0"], "--procs-per-run 0: out of range"),
    (["--procs-per-run", "2"], "--procs-per-run applies to a submitted grid or sweep"),
])
def test_bad_submissions_are_one_line_before_anything_is_submitted(tiny, tmp_path, capsys, extra, expected):
    g = _grid(tmp_path, tiny)
    rc = main(["grid", str(g), f"results_dir={tmp_path / 'r'}", *extra])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2 and expected in line, line
    assert not (tmp_path / "r" / "submitit").exists()


def test_a_submitted_sweep(tiny, tmp_path):
    """A sweep through submitit's local executor: the preparation job, an array of trial tasks, then one
    job that selects and runs the finals; the selected view comes out as with a local sweep. Each task
    runs its runs across 2 processes (--procs-per-run 2: torchrun in the task, CPU, gloo), sharded."""
    import yaml
    res = tmp_path / "results"
    spec = {"name": "s", "task": "tofu_forget01", "validation": {"overrides": ["world.seed=1"]},
            "methods": {"graddiff": {"unlearn.lr": [1.0e-4, 5.0e-3]}}, "budget": 2,
            "overrides": tiny + [f"results_dir={res}", "unlearn.fsdp=true"],
            "resources": {"cpus": 1, "mem_gb": 2, "time_min": 10},
            "select": {"maximize": "forget_quality"}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    _submit(["sweep", str(path), "--executor", "submitit-local", "--jobs", "2", "--procs-per-run", "2", "--quiet"])
    folders = [p for p in (res / "runs").iterdir() if (p / "status.json").exists()]
    roles = sorted(yaml.safe_load((p / "config.yaml").read_text())["sweep"]["role"] for p in folders)
    assert roles == ["final", "trial", "trial"]
    for p in folders:  # every run unlearned across the task's 2 processes, sharded
        c = json.loads((p / "compute.json").read_text())
        assert (c["processes"], c.get("fsdp")) == (2, True), p.name
    assert len(list((res / "submitit").glob("*_log.out"))) >= 4   # prepare, 2 array tasks, finals
    assert "graddiff" in (res / "leaderboard_selected.csv").read_text()
