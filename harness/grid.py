"""Grid files (configs/grid_*.yaml): tasks x world seeds x seeds x (baselines + methods x adapters), and
the attacks applied to every method run of the grid once it is complete.

    tasks: [tofu_forget10]
    methods: all
    world_seeds: [0, 1, 2]          # optional: replicate over worlds (each its own data and models)
    attacks: {quantize: ["bits=[4]"], relearn: ["steps=[0,10]"]}
    attack_tasks: [tofu_forget10]   # optional: only these tasks' runs are attacked

Everything is validated before any compute: the runs (harness/runs.py resolve), the attacks' names,
arguments and the task families they apply to, and each attack's own check of the run's data (e.g.
relearning needs two authors to split). An attack runs after its run: in `grid --workers N`, each
worker attacks, after its own runs, every run of the grid that is complete; a run that another worker
is still computing is attacked by that worker when it finishes its runs. Attacks are claimed like runs,
so none is computed twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.config import ConfigError, GridSpec, from_dict, load_run_config, load_yaml, parse_overrides
from harness.progress import say

GRID_KEYS = ("tasks", "methods", "adapters", "seeds", "world_seeds", "baselines")


@dataclass
class GridRun:
    cfg: object                                   # the run's RunConfig
    attacks: list = field(default_factory=list)   # [(attack name, [key=value, ...])]: none for baselines


def _attacks(spec: GridSpec, path: str) -> list[tuple[str, list[str]]]:
    """The grid's attacks, each name and argument list checked now (did you mean, types, ranges)."""
    from harness.attack_run import configure
    out = []
    for name, args in spec.attacks.items():
        if not isinstance(args, list) or not all(isinstance(a, str) and "=" in a for a in args):
            raise ConfigError(f"{path}: attacks.{name}: expected a list of key=value arguments, got {args!r}")
        try:
            configure(name, args)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
        out.append((name, list(args)))
    return out


def _forms(spec: GridSpec, path: str) -> list[tuple[str, list[list[str]]]]:
    """The grid's other forms of unlearning: each name known (did you mean), each setting a list of
    key=value method arguments, each form_tasks entry naming a form and tasks of the grid."""
    from harness.forms import get_form
    out = []
    for name, settings in spec.forms.items():
        try:
            get_form(name)
        except ConfigError as e:
            raise ConfigError(f"{path}: forms: {e}") from None
        if not isinstance(settings, list) or not all(
                isinstance(a, list) and all(isinstance(x, str) and "=" in x for x in a) for a in settings):
            raise ConfigError(f"{path}: forms.{name}: expected a list of settings, each a list of key=value, "
                              f"got {settings!r}")
        out.append((name, settings))
    for name, tasks in spec.form_tasks.items():
        if name not in spec.forms:
            raise ConfigError(f"{path}: form_tasks names {name}, not among the grid's forms")
        stray = sorted(set(tasks) - set(spec.tasks)) if isinstance(tasks, list) else [str(tasks)]
        if stray:
            raise ConfigError(f"{path}: form_tasks.{name} names {', '.join(stray)}, not among the grid's tasks")
    return out


def grid_runs(path: str, overrides: list[str]) -> list[GridRun]:
    """The runs of a grid file. key=value overrides apply to every run, except the grid's own keys
    (tasks=, methods=, adapters=, seeds=, world_seeds=, baselines=), which replace the file's lists."""
    from harness.forms import load_forms
    from harness.registry import get_method, load_methods
    data = load_yaml(Path(path))
    grid_ov = [o for o in overrides if o.split("=", 1)[0] in GRID_KEYS]
    data.update(parse_overrides(grid_ov))
    try:
        spec = from_dict(GridSpec, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}".replace("config key", "grid key")) from None
    attacks = _attacks(spec, path)
    for key, names in (("attack_tasks", spec.attack_tasks), ("task_overrides", spec.task_overrides)):
        stray = sorted(set(names) - set(spec.tasks))
        if stray:
            raise ConfigError(f"{path}: {key} names {', '.join(stray)}, not among the grid's tasks")
    forms = _forms(spec, path)
    methods = sorted(load_methods()) if spec.methods == "all" else list(spec.methods)
    base_ov = list(spec.overrides) + [o for o in overrides if o not in grid_ov]
    out = []
    worlds = [[f"world.seed={w}"] for w in spec.world_seeds] or [[]]
    for task, world, seed in ((t, w, s) for t in spec.tasks for w in worlds for s in spec.seeds):
        common = [f"task={task}", f"seed={seed}"] + base_ov + world
        for b in spec.baselines:
            out.append(GridRun(load_run_config(None, ["method=none", f"start={b}"] + common)))
        for m in methods:
            for a in spec.adapters:
                if a == "none" and get_method(m, also=load_forms).requires_adapter:
                    continue  # LoRA-native methods have no full fine-tuning variant
                out.append(GridRun(load_run_config(None, [f"method={m}", f"adapter.kind={a}"] + common
                                                   + list(spec.task_overrides.get(task, []))
                                                   + list(spec.method_overrides.get(m, []))),
                                   attacks if not spec.attack_tasks or task in spec.attack_tasks else []))
        for name, settings in forms:
            if task in spec.form_tasks.get(name, [task]):
                for args in settings:
                    out.append(GridRun(load_run_config(None, [f"method={name}"] + common
                                                       + [f"method_args.{a}" for a in args])))
    if not out:
        raise ConfigError(f"{path}: the grid is empty (give tasks and methods)")
    return out


def grid_configs(path: str, overrides: list[str]) -> list:
    """The run configs of a grid file (grid_runs without the attacks)."""
    return [g.cfg for g in grid_runs(path, overrides)]


def shard(items: list, spec: str | None) -> list:
    """--shard I/N keeps runs I, I+N, I+2N, ... (0-based): one slice per cluster array task."""
    if not spec:
        return items
    try:
        i, n = (int(x) for x in spec.split("/"))
        assert 0 <= i < n
    except (ValueError, AssertionError):
        raise ConfigError(f"--shard: expected I/N with 0 <= I < N, got '{spec}'") from None
    return items[i::n]


def check_attacks(resolved: list, runs_: list[GridRun]) -> int:
    """Before any compute: every attack applies to its run's task family and accepts the run's data
    (attack_run.check_run, once per attack and task setting). Returns how many attacks the grid holds."""
    from harness import attack_run
    from harness import models as MD
    checked, n = set(), 0
    for r, g in zip(resolved, runs_):
        for name, args in g.attacks:
            n += 1
            key = (name, tuple(args), r.task.name, MD.prepare_key(r.cfg, r.task))
            if key not in checked:
                checked.add(key)
                attack_run.check_run(*attack_run.configure(name, args), r)
    return n


def run_attacks(resolved: list, runs_: list[GridRun], force: bool, progress: bool) -> dict:
    """Every attack of the grid on its run, when the run is complete with a saved model (a diverged
    run has nothing to attack; a run still being computed elsewhere is attacked by its worker). The
    runs were resolved and the attacks checked before any compute (check_attacks): not again here."""
    from harness import attack_run
    counts: dict = {}
    for r, g in zip(resolved, runs_):
        if not g.attacks:
            continue
        why = attack_run.unattackable(r.folder)
        if why:
            key = f"not attacked ({why[0]})"
            counts[key] = counts.get(key, 0) + len(g.attacks)
            continue
        for name, args in g.attacks:
            attack, acfg = attack_run.configure(name, args)
            try:
                result = attack_run.execute((attack, acfg, r, r.folder / "attacks" / name), force, progress)
            except Exception as e:  # noqa: BLE001 - one failed attack must not stop the grid
                result = "failed"
                say(f"  attack {name} on {r.run_id} FAILED: {type(e).__name__}: {e}")
            else:
                if result != "skipped":
                    say(f"  attack {name}: {result}: {r.run_id}")
            counts[f"attack {result}"] = counts.get(f"attack {result}", 0) + 1
    return counts
