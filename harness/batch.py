"""Many runs at once, as `run`, `grid` and `sweep` use them: every run resolved and its data loaded before
any compute (so every bad input surfaces first), runs that resolve to one run id counted once, and the
runs executed one by one with a one-line outcome each (a failed run does not stop a grid)."""
from __future__ import annotations

import json
from pathlib import Path

from harness import distributed, runs
from harness.io import check_writable_dir
from harness.progress import say


def resolve_all(configs) -> list:
    """Resolve and validate every run, and load its data (no compute): every bad input surfaces now,
    before any model trains."""
    for d in sorted({c.results_dir for c in configs}):  # before any compute: results can be written there
        check_writable_dir(Path(d) / "runs", "results_dir")
    resolved = [runs.resolve(c) for c in configs]
    seen: dict = {}
    for r in resolved:
        key = (r.task.name, r.cfg.dataset, r.cfg.world.profile, r.cfg.world.seed, r.cfg.unlearn.refusals,
               bool(r.method and r.method.needs & {"idk", "ref_idk"}))
        if key not in seen:
            seen[key] = runs.load_data(r)
        runs.check_form(r, seen[key])  # e.g. sisa: more shards than authors
        runs.split_for_selection(r, seen[key], runs.MD.dataset_source(r.cfg, r.task))  # held-out items exist
    return resolved


def unique(resolved: list, runs_: list) -> tuple[list, list]:
    """A grid's runs that resolve to one run id run once (a model evaluated as is, or a deterministic
    form, under several seeds: harness/runs.py counts it once); the first one's attacks are kept."""
    seen, out_r, out_g = set(), [], []
    for r, g in zip(resolved, runs_):
        if r.run_id not in seen:
            seen.add(r.run_id)
            out_r.append(r)
            out_g.append(g)
    return out_r, out_g


def run_many(resolved: list, force: bool, progress: bool, wait: bool = False) -> dict:
    """Execute resolved runs one by one; a run that fails with an error does not stop a grid, except
    under a launcher (torchrun): the other processes may be waiting on the failed one, so every
    process stops (the launcher ends them all; a resubmission skips the complete runs)."""
    counts: dict = {}
    for i, r in enumerate(resolved, 1):
        say(f"run {i}/{len(resolved)}: {r.run_id}")
        try:
            status = runs.execute(r, force=force, progress=progress, wait=wait)
        except Exception as e:  # noqa: BLE001 - one broken run must not stop the grid
            if len(resolved) == 1 or distributed.launched():
                raise
            status = "failed"
            say(f"  FAILED: {type(e).__name__}: {e}")
        else:
            if status in ("complete", "diverged"):  # skipped and claimed runs said why already
                say(f"  {status}: {r.folder}")
            if status in ("complete", "skipped") and distributed.is_main():
                say(f"  {headline(r)}")
        counts[status] = counts.get(status, 0) + 1
    return counts


def headline(r) -> str:
    """The run's headline numbers, as its task declares them (what the leaderboard shows first)."""
    try:
        metrics = json.loads((r.folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return "metrics: not readable"
    text = headline_numbers(r.task, metrics)
    return f"metrics: {text}" if text else "metrics: none"


def headline_numbers(task, metrics: dict, digits: str = ".4g") -> str:
    """'name value, ...' for the task's headline metrics that have a number (privleak can be missing)."""
    return ", ".join(f"{k} {metrics[k]:{digits}}" for k, s in task.metrics.items()
                     if s.headline and isinstance(metrics.get(k), (int, float)))
