"""`python -m harness <command>`: prepare, run, eval, grid, sweep, attack, leaderboard, list.

Arguments are an optional YAML file followed by key=value overrides, e.g.
    python -m harness run method=graddiff task=tofu_forget05 unlearn.lr=5e-4 seed=1
Bad input stops with one line, exit status 2, before any compute.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from harness.batch import resolve_all, run_many, unique
from harness.progress import say

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _split_args(args: list[str]) -> tuple[str | None, list[str]]:
    files = [a for a in args if "=" not in a]
    if len(files) > 1:
        from harness.config import ConfigError
        raise ConfigError(f"expected at most one config file before the key=value overrides, got {files}")
    return (files[0] if files else None), [a for a in args if "=" in a]


def _check_launched(ns) -> None:
    """Under torchrun / accelerate launch: `run` and `eval`, and `grid` and `sweep` running their runs
    one after another, each across every process (docs/distributed.md); nothing that spawns or submits."""
    from harness.config import ConfigError
    if ns.cmd not in ("run", "eval", "grid", "sweep"):
        raise ConfigError(f"'{ns.cmd}' does not run across processes: launch `run`, `eval`, `grid` or `sweep` "
                          f"with torchrun / accelerate launch (docs/distributed.md), or this command with plain python")
    if ns.cmd in ("grid", "sweep"):
        for flag, bad in (("--executor", getattr(ns, "executor", "local") != "local"),
                          ("--workers", getattr(ns, "workers", 1) != 1),
                          ("--worker", bool(getattr(ns, "worker", None))),
                          ("--prepare-only", getattr(ns, "prepare_only", False)),
                          ("--dry-run", getattr(ns, "dry_run", False)), ("--count", getattr(ns, "count", False))):
            if bad:
                raise ConfigError(f"{ns.cmd} {flag} under a launcher: not supported; launched, {ns.cmd} runs its "
                                  f"runs one after another across the processes (use plain python for {flag})")


def _single(cfg, ns) -> int:
    """`run` and `eval`: exit 0 when the run is complete (or already was), 1 when it diverged."""
    (r,) = resolve_all([cfg])
    counts = run_many([r], ns.force, not ns.quiet, wait=True)
    if counts.get("diverged"):
        from harness import distributed
        if not distributed.is_main():  # rank 0 writes (and reports) the diverged folder
            return 1
        import json
        error = json.loads((r.folder / "status.json").read_text())["error"]
        say(f"diverged: {error} (folder written with the train log and cost up to that step)")
        return 1
    return 0


def cmd_run(ns) -> int:
    from harness.config import load_run_config
    path, ov = _split_args(ns.args)
    return _single(load_run_config(path, ov), ns)


def cmd_eval(ns) -> int:
    """Evaluate a saved model (a folder or HF id) on a task: a run with method=none."""
    from harness.config import load_run_config
    model, ov = (ns.args[0], ns.args[1:]) if ns.args and "=" not in ns.args[0] else (None, ns.args)
    extra = ["method=none"] + ([f"model.evaluate={model}"] if model else [])
    return _single(load_run_config(None, extra + ov), ns)


def cmd_grid(ns) -> int:
    """Every run of the grid files (all validated first), then their attacks, then the leaderboard of
    the results folder the runs were written to. Exit 1 if a run or an attack failed with an error; a
    diverged run is a result, not a failure."""
    from harness import grid, leaderboard, workers
    from harness.config import ConfigError
    files = [a for a in ns.args if "=" not in a] or ["configs/grid_default.yaml"]
    ov = [a for a in ns.args if "=" in a]
    # several grid files are one grid: every run of all of them is validated before any compute
    runs_ = grid.shard([g for f in files for g in grid.grid_runs(f, ov)], ns.shard)
    configs = [g.cfg for g in runs_]
    if ns.count:
        print(len(configs))
        return 0
    dirs = sorted({c.results_dir for c in configs})
    if len(dirs) > 1:
        raise ConfigError(f"the grid writes to several results folders {dirs}: give one results_dir")
    if ns.workers < 1:
        raise ConfigError(f"--workers {ns.workers}: expected at least 1")
    resolved, runs_ = unique(resolve_all(configs), runs_)
    n_attacks = grid.check_attacks(resolved, runs_)
    results = Path(dirs[0]) if dirs else Path("results")
    if ns.prepare_only:  # the first job of a submitted grid: every model, once, before the array starts
        busy = workers.prepare_ahead(resolved, not ns.quiet, ns.force)
        say(f"grid: the models of {len(resolved)} runs prepared" + (f" ({busy} being built elsewhere)" if busy else ""))
        return 0
    if ns.executor != "local":  # everything above was validated here, before anything is submitted
        from harness import executors
        if ns.shard or ns.worker or ns.workers != 1:
            raise ConfigError(f"--executor {ns.executor} makes its own array (--jobs N): --shard and --workers "
                              f"do not apply")
        say(f"grid: {len(resolved)} runs and {n_attacks} attacks validated; {ns.executor}, {ns.jobs} array tasks")
        return executors.submit(ns.executor, files, ov, results, ns, wait=not ns.no_wait)
    if ns.worker:  # one of several workers: its own order over the runs; the parent builds the leaderboard
        i, n = workers.parse(ns.worker)
        mine = workers.order(len(resolved), i, n)
        workers.prepare_ahead([resolved[j] for j in mine], not ns.quiet, ns.force)
        counts = run_many([resolved[j] for j in mine], ns.force, not ns.quiet)
        counts.update(grid.run_attacks([resolved[j] for j in mine], [runs_[j] for j in mine], ns.force,
                                       not ns.quiet))
        say(f"worker {i}/{n}: " + ", ".join(f"{c} {k}" for k, c in sorted(counts.items())))
        return 1 if counts.get("failed") or counts.get("attack failed") else 0
    if ns.workers > 1:
        say(f"grid: {len(resolved)} runs and {n_attacks} attacks validated; {ns.workers} workers")
        args = ns.args + (["--force"] if ns.force else []) + ([f"--shard={ns.shard}"] if ns.shard else [])
        rc = workers.spawn(args, ns.workers, ns.quiet)
    else:
        from harness import distributed
        counts = run_many(resolved, ns.force, not ns.quiet)
        if not distributed.is_main():  # launched: rank 0 attacks the models and builds the leaderboard
            return 0
        counts.update(grid.run_attacks(resolved, runs_, ns.force, not ns.quiet))
        say("grid: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
        rc = 1 if counts.get("failed") or counts.get("attack failed") else 0
    report = leaderboard.build(results)
    say(f"leaderboard: {report.rows} rows -> {results / 'leaderboard.csv'} and .html")
    return rc


def cmd_sweep(ns) -> int:
    from harness.sweep_cmd import cmd_sweep as run_sweep
    return run_sweep(ns)


def cmd_prepare(ns) -> int:
    """Build the worlds and the models for the given tasks (default: every task with built-in data)."""
    from harness import runs
    from harness.config import load_run_config
    from harness.models import prepare_models
    from harness.tasks import get_task, list_tasks
    path, ov = _split_args(ns.args)
    from harness.families import get_track
    tasks = [o.split("=", 1)[1] for o in ov if o.startswith("task=")] or \
        [t for t in list_tasks() if get_task(t).dataset in get_track(get_task(t).family).worlds]
    ov = [o for o in ov if not o.startswith("task=")]
    for t in tasks:
        r = runs.resolve(load_run_config(path, ov + [f"task={t}", "method=none"]))
        say(f"prepare {t}")
        paths = prepare_models(r.cfg, r.task, progress=not ns.quiet)
        for role in ("base", "target", "retain"):
            if role in paths:
                say(f"  {role}: {paths[role]}")
    return 0


def cmd_attack(ns) -> int:
    """An attack on a finished run folder, or on every method run a glob pattern matches (reference
    rows, which unlearned nothing, and a sweep's trials, which tune on validation data and are no
    result, are left out); all checked before any compute, exit 2 on bad input."""
    import glob

    import yaml

    from harness import attack_run
    folders = [ns.folder]
    if glob.has_magic(ns.folder):
        def config(f):
            return yaml.safe_load(Path(f, "config.yaml").read_text()) or {}
        folders = [f for f in sorted(glob.glob(ns.folder)) if Path(f, "status.json").exists()
                   and config(f).get("method") != "none" and (config(f).get("sweep") or {}).get("role") != "trial"
                   and not attack_run.weightless(Path(f))]
        if not folders:
            from harness.config import ConfigError
            raise ConfigError(f"no complete method run matches '{ns.folder}'")
    prepared = [attack_run.prepare(f, ns.attack, ns.args) for f in folders]  # all checked before any compute
    from harness.io import check_writable_dir
    for f in folders:  # an attack's results are written into its run folder
        check_writable_dir(Path(f) / "attacks", "the run folder")
    for p in prepared:
        status = attack_run.execute(p, ns.force, not ns.quiet)
        say(f"attack {ns.attack}: {status}: {p[3]}")
    return 0


def cmd_significance(ns) -> int:
    from harness.study_cmd import command
    return command([a for a in ns.args if "=" not in a], [a for a in ns.args if "=" in a])


def cmd_meta_eval(ns) -> int:
    from harness import metaeval_cmd
    return metaeval_cmd.command(ns.task, ns.args, ns.pool, ns.workers, ns.prepare_only, not ns.quiet,
                                recovery=not ns.no_recovery)


def cmd_leaderboard(ns) -> int:
    """Rebuild the tables and the page from a results folder; a missing folder is an error, a broken
    run folder is skipped and reported."""
    from harness import leaderboard
    from harness.config import ConfigError
    from harness.io import check_writable_dir
    results = Path(ns.results)
    if not results.is_dir():
        raise ConfigError(f"results folder '{results}' does not exist")
    if not (results / "runs").is_dir():  # not a results folder: writing empty tables into it helps no one
        raise ConfigError(f"'{results}' has no runs/ folder: not a results folder (give the folder a grid or run "
                          f"wrote, e.g. --results results)")
    check_writable_dir(results, "results folder")
    report = leaderboard.build(results)
    if report.rows:
        print(report.summary())
    elif report.selected.empty:
        print("no complete runs yet")
    if not report.selected.empty:
        print(report.selected[["sweep", "task", "method", "setting", "n_trials", "feasible"]].to_string(index=False))
    say(f"wrote {results / 'leaderboard.csv'} and leaderboard.html ({report.rows} rows)")
    return 0


def cmd_packaged(ns) -> int:
    """Real models shipped inside packages (harness/packaged.py): each one's state, or convert the named
    ones into the model cache (checked first: installed, size, SHA-256, architecture)."""
    import json

    from harness import packaged
    from harness.config import ConfigError
    from harness.schema import did_you_mean
    for name in ns.names:
        if not packaged.is_packaged(name):
            raise ConfigError(f"unknown packaged model '{name}'{did_you_mean(name, list(packaged.REGISTRY))}")
    for name in ns.names:
        out = packaged.folder(name, progress=not ns.quiet)
        print(f"{name}: {out}")
        print(json.dumps(json.loads((out / packaged.META).read_text())["packaged"], indent=1))
    if not ns.names:
        for name, p in packaged.REGISTRY.items():
            state = "converted" if (packaged.converted_folder(name) / packaged.META).exists() else "not converted"
            print(f"{name:14s} {p.source} ({p.quantisation} GGUF in {p.package} {p.version}, {p.licence}): {state}")
    return 0


def cmd_list(ns) -> int:
    from harness.registry import SUPPLIES, load_methods
    from harness.tasks import get_task, list_tasks
    from harness.families import load_tracks
    print("methods:")
    for name, m in sorted(load_methods().items()):
        lora = f" lora_lr={m.lora_lr:g}" if m.lora_lr else ""
        only = " (LoRA only)" if m.requires_adapter else ""
        print(f"  {name:14s} lr={m.lr:g}{lora} epochs={m.epochs}{only} needs={','.join(sorted(m.needs))}\n"
              f"  {'':14s} {m.summary}")
    print("  none           (no unlearning: evaluate the start model as is)")
    from harness.forms import load_forms
    from harness.families import serves
    print("other forms of unlearning (method=<form>, settings in method_args):")
    for name, f in sorted(load_forms().items()):
        served = [t for t, track in sorted(load_tracks().items()) if serves(f, track)]
        print(f"  {name:14s} [{f.kind}] {f.summary} (families: {', '.join(served)})")
    print("tasks:")
    width = max(14, *(len(t) for t in list_tasks()))
    for t in list_tasks():
        task = get_task(t)
        what = f"requests={task.requests}" if task.requests else f"forget={task.splits.forget}"
        print(f"  {t:{width}s} v{task.version} family={task.family} dataset={task.dataset} {what}")
    print("task families (tracks) and their metrics:")
    for name, track in sorted(load_tracks().items()):
        print(f"  {name:14s} {', '.join(track.metrics)}")
    print("supplies a method can declare:", ", ".join(sorted(SUPPLIES)))
    from harness.attacks import load_attacks
    print("attacks (python -m harness attack <run folder> <name>):")
    for name, a in sorted(load_attacks().items()):
        served = [t for t, track in sorted(load_tracks().items()) if serves(a, track)]
        print(f"  {name:14s} {a.summary} (families: {', '.join(served)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    # peft 0.21 calls a transformers 5 property that is being renamed: harmless, and it would print
    # once per LoRA run
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    p = argparse.ArgumentParser(prog="python -m harness", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, fn, hlp in [("prepare", cmd_prepare, "build the world and the base/target/retain models"),
                          ("run", cmd_run, "one unlearning run and its evaluation"),
                          ("eval", cmd_eval, "evaluate a saved model (folder or HF id) on a task"),
                          ("grid", cmd_grid, "run grid files (default configs/grid_default.yaml), then the "
                           "leaderboard"),
                          ("sweep", cmd_sweep, "tune methods on validation data by a sweep file's rule, then report")]:
        sp = sub.add_parser(name, help=hlp)
        sp.add_argument("args", nargs="*", help="[config.yaml] key=value ...")
        sp.add_argument("--force", action="store_true", help="rerun even if the run folder is complete")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
        if name == "sweep":
            sp.add_argument("--dry-run", action="store_true", help="print the plan (steps, tokens, FLOPs) and exit")
            sp.add_argument("--phase", choices=["all", "trials", "finals"], default="all",
                            help="the trials only, or the selection and final runs only (default: both)")
        if name in ("grid", "sweep"):
            sp.add_argument("--shard", help="I/N: run only every N-th run starting at I (cluster arrays)")
        if name == "grid":
            sp.add_argument("--count", action="store_true", help="print the number of runs and exit")
        if name in ("grid", "sweep"):
            sp.add_argument("--workers", type=int, default=1,
                            help="N worker processes on this machine, sharing the runs through their claims")
            sp.add_argument("--worker", help=argparse.SUPPRESS)  # I/N: set by --workers for its children
            sp.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)  # a submitted grid's 1st job
            sp.add_argument("--executor", choices=["local", "slurm", "submitit-local"], default="local",
                            help="where the runs execute: this machine, or a Slurm job array through submitit "
                                 "(submitit-local: the same jobs as local processes)")
            sp.add_argument("--jobs", type=int, default=1, help="array tasks of a submitted grid")
            for flag, hlp in (("--slurm-partition", "Slurm partition"), ("--slurm-account", "Slurm account"),
                              ("--slurm-qos", "Slurm QOS"),
                              ("--slurm-env", "file of key=value Slurm settings (default $HARNESS_SLURM_ENV)")):
                sp.add_argument(flag, help=hlp)
            for flag, hlp in (("--gpus", "GPUs per task"), ("--cpus", "CPUs per task"),
                              ("--mem-gb", "memory per task (GB)"), ("--time-min", "time limit per task (minutes)")):
                sp.add_argument(flag, type=int, help=hlp)
            sp.add_argument("--procs-per-run", type=int,
                            help="submitted: each array task runs its runs across N processes (torchrun; one GPU "
                                 "each; data parallel, or sharded with unlearn.fsdp=true); default: --gpus")
            sp.add_argument("--no-wait", action="store_true", help="return once the array is submitted")
        sp.set_defaults(fn=fn)
    sp = sub.add_parser("attack", help="attack a finished run's model (harness/attacks/), evaluate it again")
    sp.add_argument("folder", help="a complete run folder (results/runs/<run_id>), or a quoted glob pattern")
    sp.add_argument("attack", help="the attack's name (python -m harness list)")
    sp.add_argument("args", nargs="*", help="the attack's arguments, key=value")
    sp.add_argument("--force", action="store_true", help="redo a complete attack")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(fn=cmd_attack)
    sp = sub.add_parser("significance", help="a replicated study grid's intervals, paired comparisons and rank "
                        "intervals (docs/statistics.md)")
    sp.add_argument("args", nargs="*", help="grid files, then key=value ...")
    sp.set_defaults(fn=cmd_significance)
    sp = sub.add_parser("meta-eval", help="which of a task's forget metrics can be trusted: faithfulness on model "
                        "pools, robustness under attack (docs/metrics.md)")
    sp.add_argument("task", help="e.g. tofu_forget10")
    sp.add_argument("args", nargs="*", help="key=value overrides of the task's runs (world, model recipe, ...)")
    sp.add_argument("--pool", type=int, default=6, help="models per pool (positive and negative), default 6")
    sp.add_argument("--workers", type=int, default=1, help="processes training the pool models")
    sp.add_argument("--no-recovery", action="store_true", help="do not attack the pool models (2 x pool attacks: "
                    "the costly part on a real model); the recovery rows stay empty")
    sp.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(fn=cmd_meta_eval)
    sp = sub.add_parser("leaderboard", help="rebuild results/leaderboard.{csv,html} from results/runs")
    sp.add_argument("--results", default="results")
    sp.set_defaults(fn=cmd_leaderboard)
    sub.add_parser("list", help="methods, tasks and metrics").set_defaults(fn=cmd_list)
    sp = sub.add_parser("packaged", help="real models shipped inside packages: list them, or convert the named ones")
    sp.add_argument("names", nargs="*", help="e.g. smollm2-135m")
    sp.add_argument("--quiet", action="store_true", help="no progress output")
    sp.set_defaults(fn=cmd_packaged)
    ns, extra = p.parse_known_args(argv)  # key=value may come after --flags
    if extra and (not hasattr(ns, "args") or any(e.startswith("-") for e in extra)):
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        ns.args += extra
    from harness.config import ConfigError
    from harness.data import DataError
    try:
        from harness import distributed
        if distributed.launched():
            _check_launched(ns)
        if getattr(ns, "procs_per_run", None) is not None and ns.executor == "local":
            raise ConfigError("--procs-per-run applies to a submitted grid or sweep (--executor slurm); on this "
                              "machine launch it across processes with torchrun (docs/distributed.md)")
        import transformers
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        return ns.fn(ns)
    except (ConfigError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
