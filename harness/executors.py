"""Where a grid runs: on this machine (`--executor local`, worker processes: harness/workers.py) or on a
Slurm cluster through submitit (`--executor slurm`; `--executor submitit-local` runs the same jobs as
local processes through submitit's own local executor, which is how it is tested here).

A submitted grid is two steps. First one job prepares every model the grid needs (worlds, base,
target and retain models, SISA's constituents, the DP target), so no two array tasks ever train the
same model; the submitting process waits for it. Then a job array of N tasks: task i runs
`grid <files> --shard i/N` (its runs, then its runs' attacks, then the leaderboard of the results
folder). Everything is validated before anything is submitted. Runs and attacks are claimed
(harness/claim.py), so arrays, local workers and reruns on the same results folder never compute a
run twice, and a complete run is skipped: after a failure, submit the same command again. A task that
Slurm preempts or times out is requeued by submitit (the job is Checkpointable) and skips what finished.

Site settings never live in the code: `--slurm-partition`, `--slurm-account`, `--slurm-qos`, or a
file given by `--slurm-env` (or $HARNESS_SLURM_ENV) of `key=value` lines (partition, account, qos,
and any other sbatch option, e.g. constraint=a100). Resources come from the flags `--gpus`,
`--cpus`, `--mem-gb`, `--time-min`.
"""
from __future__ import annotations

import os
from pathlib import Path

from harness.config import ConfigError

SITE_KEYS = ("partition", "account", "qos")


def site_settings(ns) -> dict:
    """The Slurm site settings: the env file's key=value lines, overridden by the flags."""
    out: dict = {}
    env = ns.slurm_env or os.environ.get("HARNESS_SLURM_ENV")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"--slurm-env: file '{path}' not found")
        for n, line in enumerate(path.read_text().splitlines(), 1):
            line = line.split("#")[0].strip()
            if not line:
                continue
            if "=" not in line:
                raise ConfigError(f"{path}:{n}: expected key=value, got '{line}'")
            k, v = (x.strip() for x in line.split("=", 1))
            out[k] = v
    for k in SITE_KEYS:
        v = getattr(ns, f"slurm_{k}", None)
        if v:
            out[k] = v
    return out


def _check(ns) -> None:
    if ns.jobs < 1:
        raise ConfigError(f"--jobs {ns.jobs}: expected at least 1")
    for flag in ("gpus", "cpus", "mem_gb", "time_min", "procs_per_run"):
        if getattr(ns, flag, None) is not None and getattr(ns, flag) < (0 if flag == "gpus" else 1):
            raise ConfigError(f"--{flag.replace('_', '-')} {getattr(ns, flag)}: out of range")
    gpus, procs = ns.gpus or 0, procs_per_run(ns)
    if gpus and procs > gpus:
        raise ConfigError(f"--procs-per-run {procs}: more than the {gpus} GPUs a task asks for (--gpus); one "
                          f"process per GPU")


def procs_per_run(ns) -> int:
    """Processes each array task runs a run across: --procs-per-run, else every GPU the task asks for."""
    return getattr(ns, "procs_per_run", None) or max(1, ns.gpus or 0)


def executor(kind: str, folder: Path, ns, settings: dict):
    """A configured submitit executor ('slurm' or 'submitit-local')."""
    try:
        import submitit
    except ImportError:
        raise ConfigError("--executor slurm needs submitit (pip install submitit; make setup installs it)") from None
    ex = submitit.AutoExecutor(folder=str(folder), cluster="local" if kind == "submitit-local" else "slurm")
    params = {"name": "harness-grid", "timeout_min": ns.time_min or 240, "cpus_per_task": ns.cpus or 2,
              "gpus_per_node": ns.gpus or 0, "mem_gb": ns.mem_gb or 16}
    if kind == "slurm":
        params.update({f"slurm_{k}": v for k, v in settings.items() if k in SITE_KEYS})
        extra = {k: v for k, v in settings.items() if k not in SITE_KEYS}
        if extra:
            params["slurm_additional_parameters"] = extra
        params["slurm_array_parallelism"] = ns.jobs
    ex.update_parameters(**params)
    return ex


class GridTask:
    """One array task (or the prepare job): `python -m harness grid <args>` started by the job, or,
    with procs > 1, under `torchrun --standalone --nproc_per_node procs` on the task's node: every run
    of the task then unlearns across those processes (one GPU each; docs/distributed.md).
    Checkpointable: when Slurm preempts it or its time runs out, submitit requeues the same call, which
    skips the runs that finished (their folders are complete) and the ones other tasks hold."""

    def __init__(self, args: list[str], procs: int = 1):
        self.args, self.procs = list(args), procs

    def __call__(self) -> int:
        import subprocess
        import sys
        # the CLI as a program (the executor layer sits below the CLI and never imports it); several
        # processes on the task's node go through torchrun
        launch = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(self.procs)] \
            if self.procs > 1 else []
        rc = subprocess.run([sys.executable, *launch, "-m", "harness", *self.args]).returncode
        if rc not in (0, 1):  # 1: a run failed with an error (recorded); anything else is the job's failure
            raise RuntimeError(f"harness {' '.join(self.args)} exited {rc}")
        return rc

    def checkpoint(self, *args, **kwargs):
        import submitit
        return submitit.helpers.DelayedSubmission(GridTask(self.args, self.procs))


def submit(kind: str, files: list[str], overrides: list[str], results: Path, ns, wait: bool = True,
           command: str = "grid", array_args: tuple = (), then: list[str] | None = None) -> int:
    """Prepare the models in one job, then run `command` (a grid, or a sweep's trials) as an array of
    ns.jobs tasks, then (a sweep) one job of `then` arguments once the array is done. Returns 1 if a task
    reported a failed run, else 0 (with wait=False: 0 once the array is submitted)."""
    _check(ns)
    settings = site_settings(ns) if kind == "slurm" else {}
    folder = results / "submitit"
    ex = executor(kind, folder, ns, settings)
    base = list(files) + list(overrides) + (["--force"] if ns.force else []) + ["--quiet"]
    prep = ex.submit(GridTask([command, *files, *overrides, "--prepare-only", "--quiet"]))
    print(f"[harness] submitted the models' preparation: job {prep.job_id} (logs in {folder})")
    prep.result()  # the array starts once every model exists
    procs = procs_per_run(ns)
    jobs = ex.submit_array([GridTask([command, *base, *array_args, f"--shard={i}/{ns.jobs}"], procs)
                            for i in range(ns.jobs)])
    print(f"[harness] submitted {len(jobs)} array tasks: {', '.join(str(j.job_id) for j in jobs)}"
          + (f" ({procs} processes a run)" if procs > 1 else ""))
    if not wait:
        return 0
    rc = max(j.result() for j in jobs)
    if then is not None:  # e.g. a sweep's selection and final runs, after every trial
        last = ex.submit(GridTask([command, *base, *then], procs))
        print(f"[harness] submitted the final job: {last.job_id}")
        rc = max(rc, last.result())
    return rc
