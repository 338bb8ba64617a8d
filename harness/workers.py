"""Several grid workers on one machine (`grid --workers N`).

The parent validates every run first (one pass, as a single grid does), then starts N worker
processes over the same run list, each with cores/N compute threads, and builds the leaderboard when
all have finished. Workers share the work through the run claims (harness/claim.py): a run another
worker holds is left to it, and a model another worker is training is waited for, then reused. So
that the workers do not start by waiting for each other's models, they walk the list in different
orders: worker 0 from the first run forward, the others backward from staggered points (the default
benchmark lists the TOFU runs first and the hazard track last, so the second worker starts by building
the hazard model while the first builds the TOFU models).

Before its runs, each worker builds the models they need, in its own order, skipping a model another
worker is building at that moment instead of waiting for it (prepare_ahead): the builds of the two
workers overlap, and a worker waits only when a run needs a model that is still being built.

On small models a matrix product gives the same bits with one thread as with two (checked: the same
weights after 20 training steps, and the same metrics for every run of the default benchmark), so
the results do not depend on the number of workers. Two one-thread processes do about 1.25x the work
of one two-thread process on 2 cores: the small matrices of the default models leave a second thread
idle much of the time.
"""
from __future__ import annotations

import os
import subprocess
import sys


def order(n_runs: int, worker: int, workers: int) -> list[int]:
    """The order in which `worker` (0-based) of `workers` visits the runs."""
    idx = list(range(n_runs))
    if worker == 0:
        return idx
    back = idx[::-1]
    k = (worker - 1) * n_runs // max(1, workers - 1)
    return back[k:] + back[:k]


def prepare_ahead(resolved: list, progress: bool, force: bool = False) -> int:
    """Build the models of `resolved` runs (in this order) that no other process is building now;
    returns how many model sets were skipped as busy. A run whose models fail to build here is left
    to fail, with its own error, when it runs."""
    from harness import models as MD
    from harness.claim import Busy, without_waiting
    from harness.progress import say
    from harness.runs import is_complete
    seen, busy = set(), 0
    for r in resolved:
        key = MD.prepare_key(r.cfg, r.task)
        if key in seen or (is_complete(r.folder) and not force):
            continue
        seen.add(key)
        try:
            with without_waiting():
                MD.prepare_models(r.cfg, r.task, progress)
        except Busy:
            busy += 1
        except Exception as e:  # noqa: BLE001 - the run itself fails with this error, in its turn
            say(f"  models of {r.run_id} not prepared ahead ({type(e).__name__}); its run will report it")
    return busy + _prepare_forms(resolved, progress, force)


def _prepare_forms(resolved: list, progress: bool, force: bool) -> int:
    """The other forms' own models (SISA's constituents, the DP target), after every run's models: they
    start from the base alone, so a worker builds them while the other trains targets and retain models."""
    from harness.claim import Busy, without_waiting
    from harness.forms import base_context
    from harness.progress import say
    from harness.runs import is_complete
    busy = 0
    for r in resolved:
        if r.form is None or not hasattr(r.form, "prepare") or (is_complete(r.folder) and not force):
            continue
        try:
            with without_waiting():
                r.form.prepare(base_context(r, progress))
        except Busy:
            busy += 1
        except Exception as e:  # noqa: BLE001 - the run itself fails with this error, in its turn
            say(f"  {r.form.name} of {r.run_id} not prepared ahead ({type(e).__name__}); its run will report it")
    return busy


def spawn(args: list[str], workers: int, quiet: bool, command: str = "grid") -> int:
    """Run `harness <command> <args> --worker i/N` for every worker (grid, or a sweep's trials); the
    highest exit status wins."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    procs = []
    for i in range(workers):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        cmd = [sys.executable, "-m", "harness", command, *args, f"--worker={i}/{workers}", "--quiet"]
        procs.append(subprocess.Popen(cmd, env=env))
    return max(p.wait() for p in procs)


def parse(spec: str) -> tuple[int, int]:
    from harness.config import ConfigError
    try:
        i, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise ConfigError(f"--worker {spec}: expected I/N, e.g. 0/2") from None
    if not 0 <= i < n:
        raise ConfigError(f"--worker {spec}: I must be in 0..N-1")
    return i, n
