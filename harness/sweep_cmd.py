"""`python -m harness sweep FILE [key=value ...] [--dry-run] [--executor local|slurm|submitit-local]`.

Read top to bottom: read and check the sweep file (harness/sweep.py) -> resolve every trial (and one
final per method) and load their data, so any bad input stops here with one line, exit 2 -> the
validation data compared with the test data item by item (harness/protocol.py) -> the plan
(`--dry-run` stops after printing it) -> the trials on the validation data (locally, with --workers N,
or as a Slurm job array through submitit) -> the selection per method (harness/selection.py) -> one
final run per method on the test data -> the leaderboard, whose "selected" view redoes the selection
from the run folders. Complete runs are skipped, so a sweep run again computes only what is missing.
"""
from __future__ import annotations

import json
from pathlib import Path

from harness.batch import resolve_all, run_many
from harness.config import ConfigError
from harness.progress import say


def _checked(ns):
    """(sweep file, overrides, Sweep, resolved trials and references, results folder, the validation
    data loaded for the protocol check, by _data_key, for the plan to reuse)."""
    from harness import protocol, runs
    from harness import sweep as SW
    files = [a for a in ns.args if "=" not in a]
    if len(files) != 1:
        raise ConfigError(f"sweep: expected one sweep file, got {files or 'none'}")
    ov = [a for a in ns.args if "=" in a]
    sw = SW.load_sweep(files[0], ov)
    resolved = resolve_all([t.cfg for t in sw.trials])
    SW.check_protocol(sw)
    SW.check_resources(sw, ns.executor)
    # a final run's config must be valid too, before any trial runs
    finals = [runs.resolve(SW.final_config(sw, sw.of(m)[0], [], {})) for m in sw.spec.methods]
    # the trials and references share one task and world, the finals another: one load of each
    val_data = runs.load_data(resolved[0])
    protocol.check(sw.path, resolved[0], finals[0], val_data, runs.load_data(finals[0]))
    dirs = sorted({r.cfg.results_dir for r in resolved + finals})
    if len(dirs) > 1:
        raise ConfigError(f"the sweep writes to several results folders {dirs}: give one results_dir")
    for flag in ("gpus", "cpus", "mem_gb", "time_min"):  # the sweep file's resources, unless a flag says otherwise
        if getattr(ns, flag, None) is None:
            setattr(ns, flag, getattr(sw.spec.resources, flag))
    return files[0], ov, sw, resolved, Path(dirs[0]), {_data_key(resolved[0]): val_data}


def _data_key(r) -> tuple:
    return r.task.name, r.cfg.dataset, r.cfg.world.profile, r.cfg.world.seed


def _plan(sw, resolved, loaded: dict) -> None:
    from harness import sweep as SW
    from harness.runs import is_complete, load_data
    data = {}   # trials share their data (the plan reads forget and retain): one load per task and world
    for r in resolved:
        key = _data_key(r)
        if key not in loaded:
            loaded[key] = load_data(r)
        data[id(r)] = loaded[key]
    rows = SW.plan_rows(sw, resolved, data)
    n_trials = sum(t.role == "trial" for t in sw.trials)
    print(f"sweep {sw.spec.name} (v{sw.spec.version}): {n_trials} trials and {len(sw.references)} reference "
          f"rows on the validation data ({', '.join(sw.validation)}), "
          f"then one final run per method on {sw.spec.task}")
    print(f"rule: {sw.rule.text()}")
    print(f"resources per run: {sw.spec.resources}")
    print(f"{'method':18s} {'setting':44s} {'steps':>6s} {'~tokens':>10s} {'~FLOPs':>9s}  state")
    for row, r in zip(rows, resolved):
        state = "complete" if is_complete(r.folder) else "to run"
        print(f"{row['method'][:18]:18s} {row['setting'][:44]:44s} {row['steps']:6d} {row['tokens']:10d} "
              f"{row['flops']:9.2e}  {state}")
    total = sum(r["flops"] for r in rows)
    print(f"total: {sum(r['steps'] for r in rows)} steps, ~{sum(r['tokens'] for r in rows)} tokens, ~{total:.2e} "
          f"training FLOPs (estimates: ~4 characters a token, 6 x parameters x tokens; evaluation not counted), "
          f"+ {len(sw.spec.methods)} final runs")


def _selected_finals(sw, resolved, quiet: bool = False) -> list:
    """One final config per method, from the trials' folders (the rule applied to their metrics)."""
    from harness import sweep as SW
    from harness.selection import select
    refs = {t.cfg.start: r for t, r in zip(sw.trials, resolved) if t.role == "reference"}
    ref_metrics = {role: _metrics(r.folder) or {} for role, r in refs.items()}
    finals = []
    for method in sw.spec.methods:
        pairs = [(t, r) for t, r in zip(sw.trials, resolved) if t.role == "trial" and t.method == method]
        sel = select(sw.rule, [_metrics(r.folder) for _, r in pairs], ref_metrics)
        if sel.index is None:
            if not quiet:
                say(f"  {method}: nothing to select ({sel.why})")
            continue
        trial = pairs[sel.index][0]
        if not quiet:
            say(f"  {method}: {trial.setting} ({sel.why}{'' if sel.feasible else '; marked infeasible'})")
        finals.append(SW.final_config(sw, trial, [r.run_id for _, r in pairs],
                                      {role: r.run_id for role, r in refs.items()}))
    return finals


def _metrics(folder: Path) -> dict | None:
    try:
        if json.loads((folder / "status.json").read_text()).get("status") != "complete":
            return None
        return json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return None


def cmd_sweep(ns) -> int:
    from harness import leaderboard, workers
    path, ov, sw, resolved, results, loaded = _checked(ns)
    if ns.dry_run:
        _plan(sw, resolved, loaded)
        return 0
    if ns.prepare_only:  # the first job of a submitted sweep: every model of the trials, once
        workers.prepare_ahead(resolved, not ns.quiet, ns.force)
        return 0
    if ns.executor != "local" and not ns.shard and ns.phase == "all":
        from harness import executors
        say(f"sweep: {len(resolved)} trial runs validated; {ns.executor}, {ns.jobs} array tasks")
        return executors.submit(ns.executor, [path], ov, results, ns, wait=not ns.no_wait, command="sweep",
                                array_args=("--phase=trials",), then=["--phase=finals"])
    from harness import distributed
    rc = 0
    if ns.phase in ("all", "trials"):
        rc = _run_phase(resolved, ns, path, ov, "trials")
        if ns.phase == "trials":
            return rc
    # launched: the others finish a run before rank 0 has written it; all read the trials' folders only
    # once every one is written, so that every process selects the same finals
    distributed.barrier()
    if not ns.worker:
        say(f"sweep {sw.spec.name}: selection ({sw.rule.text()})")
    finals = resolve_all(_selected_finals(sw, resolved, quiet=bool(ns.worker)))
    rc = max(rc, _run_phase(finals, ns, path, ov, "finals") if finals else 0)
    if ns.worker or not distributed.is_main():
        return rc
    report = leaderboard.build(results)
    say(f"leaderboard: {len(report.selected)} selected rows -> {results / 'leaderboard_selected.csv'}; "
        f"every trial -> {results / 'leaderboard_sweep.csv'}")
    return rc


def _run_phase(resolved: list, ns, path: str, ov: list, phase: str) -> int:
    """The runs of one phase: here, or in --workers N processes sharing them through their claims (each
    worker prepares its runs' models ahead, so a validation or test world's target and retain models
    train side by side)."""
    from harness import grid, workers
    if ns.worker:
        i, n = workers.parse(ns.worker)
        mine = [resolved[j] for j in workers.order(len(resolved), i, n)]
        workers.prepare_ahead(mine, not ns.quiet, ns.force)
        return 1 if run_many(mine, ns.force, not ns.quiet).get("failed") else 0
    if ns.workers > 1:
        say(f"sweep: {len(resolved)} {phase} runs; {ns.workers} workers")
        args = [path, *ov, f"--phase={phase}"] + (["--force"] if ns.force else [])
        return workers.spawn(args, ns.workers, ns.quiet, command="sweep")
    return 1 if run_many(grid.shard(resolved, ns.shard), ns.force, not ns.quiet).get("failed") else 0
