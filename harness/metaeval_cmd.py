"""`python -m harness meta-eval <task> [--pool N] [--workers W] [key=value ...]`: which of a task's
forget metrics can be trusted (harness/metaeval.py has the formulas; docs/metrics.md explains them).

1. Pools (harness/metaeval_pools.py): N positive models (the target fine-tuned with recipe variant i) and
   N negative ones (the retain model fine-tuned with the same variant), cached and claimed like every
   other model (`--workers 2` trains them in two processes).
2. Every pool model is evaluated as is (method=none, model.evaluate) against the task's own target and
   retain models (no pool model is its own reference), into <results_dir>/meta_eval/runs/, and attacked
   there as the task's unlearned runs were (relearn k10, quantize 4bit); the pools' membership is
   written to <results_dir>/meta_eval/<task>/pools.json.
3. Faithfulness of each forget metric and of the attacks' recovery numbers from those run folders;
   robustness from the task's unlearned runs in <results_dir>/runs/ and their attack folders; the placebo
   (a seeded random number per item, mean over items) beside them. Rows are appended to (or replace the
   task's rows in) <results_dir>/meta_eval.csv.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from harness import metaeval as ME
from harness.config import ConfigError, load_run_config
from harness.io import read_jsonl, stable_hash, write_json_atomic
from harness.metaeval_pools import attack_pools, build_pools, evaluate_pools
from harness.progress import say

N_BOOT = 1000
ATTACKS = (("relearn", "k10"), ("quantize", "4bit"))
COLUMNS = ["track", "task", "metric", "direction", "faithfulness", "faith_low", "faith_high", "robust_relearn",
           "robust_quant", "robustness", "overall", "n_pos", "n_neg", "n_unlearned"]


def check(cfg, task, pool: int) -> list:
    """Every bad input, before any model is trained; returns the unlearned runs' folders."""
    from harness.families import get_track
    from harness.runs import is_complete
    track = get_track(task.family)
    if pool < ME.MIN_POOL:
        raise ConfigError(f"meta-eval: --pool {pool} is too small for an interval: at least {ME.MIN_POOL} models a side")
    if "retain" not in track.roles:
        raise ConfigError(f"meta-eval: task {task.name} has no retain model (family {task.family}): the negative pool "
                          f"is retain models fine-tuned without the forget data")
    if cfg.model.target or cfg.model.retain:
        raise ConfigError("meta-eval: the pools are fine-tuned here; do not give model.target or model.retain")
    metrics = forget_metrics(task)
    bad = [m for m, s in metrics.items() if s.direction not in ("lower", "higher", "zero", "retain")]
    if not metrics or bad:
        raise ConfigError(f"meta-eval: task {task.name}: metric {bad[0] if bad else '(none)'} has no direction to "
                          f"orient it by")
    runs_dir = Path(cfg.results_dir) / "runs"
    # the runs with a model to attack: in-context forms and reference rows have no attack folders
    attacked = [f for f in sorted(runs_dir.glob(f"{task.name}-*")) if is_complete(f) and (f / "attacks").is_dir()
                and _is_method_run(f) and _same_models(cfg, f)]
    for f in attacked:
        for a, label in ATTACKS:
            if not (f / "attacks" / a / label / "metrics.json").exists():
                raise ConfigError(f"meta-eval: {f.name} has no {a} attack with label {label}: run `python -m harness "
                                  f"attack \"{runs_dir}/{task.name}-*\" {a}` first")
    if not attacked:
        raise ConfigError(f"meta-eval: no unlearning run of {task.name} in {runs_dir} on these models (world, base, recipe) has the relearn and quantize "
                          f"attacks robustness is measured with (make leaderboard, or python -m harness grid)")
    return attacked


def adopt(cfg, task, overrides: list[str]):
    """Without model, world or evaluation settings on the command line, the pools are built like the models of the
    task's attacked unlearning runs in <results>/runs (e.g. the document grid's 256-position news models):
    the world, dataset and model of the first such run. Given settings are kept as given."""
    if any(o.split("=", 1)[0].split(".")[0] in ("model", "world", "dataset", "eval") for o in overrides):
        return cfg
    from harness.runs import is_complete
    for f in sorted((Path(cfg.results_dir) / "runs").glob(f"{task.name}-*")):
        if is_complete(f) and (f / "attacks").is_dir() and _is_method_run(f):
            try:
                theirs = load_run_config(str(f / "config.yaml"))
            except (ConfigError, OSError):
                continue
            say(f"meta-eval {task.name}: pools built and evaluated like {f.name} (its world, dataset, model and "
                f"evaluation settings)")
            return dataclasses.replace(cfg, world=theirs.world, dataset=theirs.dataset, eval=theirs.eval,
                                       model=dataclasses.replace(theirs.model, target="", retain="", evaluate=""))
    return cfg


def _same_models(cfg, folder: Path) -> bool:
    """Whether the run unlearned the models these pools are measured beside: the same world, dataset, base
    and fine-tuning recipe."""
    try:
        theirs = load_run_config(str(folder / "config.yaml"))
    except (ConfigError, OSError):
        return False
    return (theirs.world == cfg.world and theirs.dataset == cfg.dataset and theirs.model.base == cfg.model.base
            and theirs.model.finetune == cfg.model.finetune)


def _is_method_run(folder: Path) -> bool:
    """A run that unlearned (not a reference row: <task>-<method>-s<seed>-<id>)."""
    parts = folder.name.split("-")
    return len(parts) >= 4 and parts[1] not in ("target", "retain", "none")


def forget_metrics(task) -> dict:
    return {m: s for m, s in task.metrics.items() if s.role == "forget"}


def placebo(folder: Path, model: str) -> float | None:
    """The mean over the run's evaluated items (every set: the families name their forget sets
    differently) of a uniform number seeded by (the evaluated model's cache name, set, item id): a metric
    that knows nothing about the model, the same in any clone. None for a run without item records."""
    keys = [(str(r.get("set")), str(r["id"])) for r in read_jsonl(folder / "items.jsonl") if "id" in r]
    if not keys:
        return None
    name = Path(model).name
    return float(np.mean([np.random.default_rng(int(stable_hash([name, *k]), 16)).random() for k in keys]))


def _k(metrics: dict, name: str, spec) -> float | None:
    return ME.oriented_of(metrics, name, spec)


def score(task, members: list[dict], unlearned: list[Path], seed: int, utility: str | None, results: Path) -> list[dict]:
    """The CSV rows of one task, from the pools' and the unlearned runs' folders alone (a member's folder is
    relative to the results directory): every forget metric (with its robustness), the attacks' recovery
    numbers on the attacked pool runs, and the placebo."""
    read = lambda p: json.loads(Path(p).read_text()) if Path(p).is_file() else {}  # noqa: E731
    pool = [(m["label"], read(results / m["folder"] / "metrics.json"), results / m["folder"], m["model"])
            for m in members]
    # (metric, its spec when it has robustness, direction, k of one pool run)
    scored = [(name, spec, spec.direction, lambda mt, f, model, n=name, sp=spec: _k(mt, n, sp))
              for name, spec in forget_metrics(task).items()]
    # recovery: the share of what the target knows beyond the pool model that the attack brings back,
    # beyond what it brings the task's retain model; higher means the model held more (lower is better)
    scored += [(f"{a}_{label}_recovery", None, "lower",
                lambda mt, f, model, a=a, lb=label: ME.oriented(read(f / "attacks" / a / lb / "metrics.json").get("recovery"), "lower"))
               for a, label in ATTACKS]
    scored += [("placebo", None, "lower", lambda mt, f, model: placebo(f, model))]
    rows = []
    for name, spec, direction, k_of in scored:
        ks = [(lb, k_of(mt, f, model)) for lb, mt, f, model in pool]
        pos = [k for lb, k in ks if lb == "P" and ME._num(k)]
        neg = [k for lb, k in ks if lb == "N" and ME._num(k)]
        row = {"track": task.family, "task": task.name, "metric": name, "direction": direction,
               "n_pos": len(pos), "n_neg": len(neg)}
        if len(pos) < 2 or len(neg) < 2:
            rows.append(row)
            continue
        row["faithfulness"] = ME.auc(pos, neg)
        row["faith_low"], row["faith_high"] = ME.auc_interval(pos, neg, N_BOOT, seed)
        if spec is not None:
            row.update(_robustness(name, spec, unlearned, ME.threshold(pos, neg), utility))
        row["overall"] = ME.hm(row["faithfulness"], row.get("robustness"))
        rows.append(row)
    return rows


def _robustness(name: str, spec, unlearned: list[Path], t: float, utility: str | None) -> dict:
    """R and Q averaged over the unlearned runs that forgot by this metric (k below the pools' threshold)
    and kept >= UTILITY_SHARE of the target's utility."""
    read = lambda p: json.loads(p.read_text())  # noqa: E731
    kept = []
    for f in unlearned:
        before = read(f / "metrics.json")
        rel, q = f / "attacks" / "relearn", f / "attacks" / "quantize"
        target = read(rel / "target.json").get("before", {})
        if utility and _bad_utility(before.get(utility), target.get(utility)):
            continue
        k = _k(before, name, spec)
        if k is None or k >= t:
            continue
        control = read(rel / "control.json")
        vals = [_k(read(rel / "k0" / "metrics.json"), name, spec), _k(read(rel / "k10" / "metrics.json"), name, spec),
                _k(control.get("k0", {}), name, spec), _k(control.get("k10", {}), name, spec),
                k, _k(read(q / "4bit" / "metrics.json"), name, spec)]
        if any(v is None for v in vals):
            continue
        kept.append(vals)
    if not kept:
        return {"n_unlearned": 0}
    r = float(np.mean([ME.relearn_stability(u0, u1, c0, c1) for u0, u1, c0, c1, _, _ in kept]))
    q = float(np.mean([ME.quant_stability(b, a, spec.direction) for *_, b, a in kept]))
    return {"robust_relearn": r, "robust_quant": q, "robustness": ME.hm(r, q), "n_unlearned": len(kept)}


def _bad_utility(mine, target) -> bool:
    ok = ME._num(mine) and ME._num(target)
    return not ok or mine < ME.UTILITY_SHARE * target


def write_csv(path: Path, task: str, rows: list[dict]) -> None:
    """The task's rows replace its earlier ones; other tasks' rows stay."""
    import csv
    old = []
    if path.exists():
        with path.open() as fh:
            old = [r for r in csv.DictReader(fh) if r.get("task") != task]
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in [*old, *rows]:
            w.writerow({c: r.get(c, "") if r.get(c) is not None else "" for c in COLUMNS})
    tmp.replace(path)


def command(task_name: str, overrides: list[str], pool: int, workers: int, prepare_only: bool, progress: bool,
            recovery: bool = True) -> int:
    from harness.tasks import get_task
    overrides = [f"task={task_name}", *overrides]
    cfg = load_run_config(None, overrides)
    task = get_task(task_name)
    cfg = adopt(cfg, task, overrides[1:])
    if prepare_only:  # a helper process of --workers: it trains pool models, the parent does the rest
        build_pools(cfg, task, pool, progress)
        return 0
    unlearned = check(cfg, task, pool)
    # each training process gets cores / workers threads (as a grid's workers): two processes of two
    # threads each on two cores train about 3 times slower than two of one
    import os
    import torch
    threads, before = max(1, (os.cpu_count() or 1) // max(1, workers)), torch.get_num_threads()
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    helpers = [subprocess.Popen([sys.executable, "-m", "harness", "meta-eval", task_name, *overrides[1:],
                                 f"--pool={pool}", "--prepare-only", "--quiet"], env=env)
               for _ in range(max(0, workers - 1))]
    if helpers:
        torch.set_num_threads(threads)
    try:
        members = build_pools(cfg, task, pool, progress)
    finally:
        for h in helpers:
            h.wait()
        torch.set_num_threads(before)
    members = evaluate_pools(cfg, task, members, progress)
    if recovery:
        attack_pools(task, members, unlearned, ATTACKS, Path(cfg.results_dir), progress)
    folder = Path(cfg.results_dir) / "meta_eval" / task_name
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "pools.json", {"task": task_name, "pool": pool, "members": members,
                                              "unlearned": [f.name for f in unlearned]})
    from harness.attack_run import utility_metric
    from harness.families import get_track
    utility = utility_metric(get_track(task.family), task)  # the one the attacks' damage guard reads
    rows = score(task, members, unlearned, cfg.seed, utility, Path(cfg.results_dir))
    out = Path(cfg.results_dir) / "meta_eval.csv"
    write_csv(out, task_name, rows)
    for r in rows:
        f = r.get("faithfulness")
        say(f"  {r['metric']:<22} faithfulness {_fmt(f)} [{_fmt(r.get('faith_low'))}, {_fmt(r.get('faith_high'))}]  "
            f"robustness {_fmt(r.get('robustness'))} (n={r.get('n_unlearned', 0)})")
    say(f"meta-eval {task_name}: {len(rows)} metrics -> {out}")
    return 0


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"
