"""Tasks are short declarative YAML files in tasks/: the family (track) that runs them, which splits to
forget, retain and evaluate, and which of the track's metrics to report. A file may start from a
shared one (`include: _tofu.yaml`, as lm-eval's task files do): its keys are merged in, the including
file's own keys win (mappings merged key by key). Files whose names start with '_' are shared parts,
not tasks.

Each metric is declared once, in its track (harness/families/): direction (which way is better), role
(forget/utility), how seeds are aggregated, whether the column is a headline, its chance level and
the columns shown beside it. A task's `metrics:` selects them: omitted = all the track declares; a
list of names; or a mapping of names to presentation overrides (headline, description)."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from harness.config import ConfigError, from_dict, load_yaml
from harness.schema import did_you_mean

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"
OVERRIDABLE = ("headline", "description")  # what a task file may change of a declared metric
# higher / lower: which way is better; zero: closest to 0 (privleak); retain: closest to the retain
# model's own value (membership-inference AUCs: a model that never saw the forget set is the ideal,
# and its AUC is not 0.5 on small splits), read from the metric named in `reference`.
DIRECTIONS = ("higher", "lower", "zero", "retain")


@dataclass
class MetricSpec:
    direction: Literal["higher", "lower", "zero", "retain"] = "higher"
    role: Literal["forget", "utility"] = "forget"
    description: str = ""
    aggregate: Literal["mean", "median"] = "mean"  # over seeds (p-values: median, they span decades)
    headline: bool = False      # shown first on the page; the rest sit behind a toggle
    reference: str = ""         # direction retain: the metric holding the retain model's value
    chance: float | None = None  # the score of guessing (plots draw it)
    companions: list[str] = field(default_factory=list)  # columns shown right after this one
    log_scale: bool = False     # plot on a log axis (p-values)
    # whose numbers besides the evaluated model's it is computed from: "" none, "retain" the retain
    # model's (cached reference numbers: truth ratios, MIA AUCs), "base" the base model's (accuracies)
    needs: Literal["", "retain", "base"] = ""


@dataclass
class Splits:
    full: str | list[str] = "full"  # what the target model is fine-tuned on (muse: several splits)
    forget: str | list[str] = "forget10"  # wmdp: one or more corpora (batches alternate between them)
    retain: str = "retain90"  # the retain data of methods, and what the retain model is fine-tuned on ...
    retain_model: str | list[str] = ""  # ... unless this names what the retain model trains on (muse)
    holdout: str = "holdout10"

    @property
    def forget_list(self) -> list[str]:
        return [self.forget] if isinstance(self.forget, str) else list(self.forget)

    def model_splits(self, role: str) -> list[str]:
        """The splits the target or retain model is fine-tuned on."""
        names = self.full if role == "target" else (self.retain_model or self.retain)
        return [names] if isinstance(names, str) else list(names)


# The family of a task file, or of a run folder's task.yaml, that names none: such files were written
# before task families existed, when every task was a fictitious-author task.
DEFAULT_FAMILY = "tofu"


@dataclass
class Task:
    name: str = ""
    version: int = 0
    family: str = DEFAULT_FAMILY
    description: str = ""
    dataset: str = "synthetic"  # synthetic | locuslab/TOFU | a folder in TOFU's layout
    splits: Splits = field(default_factory=Splits)
    eval: dict = field(default_factory=dict)      # tofu: kind -> split; wmdp: kind -> {file stem: subject}
    lm_eval_tasks: dict = field(default_factory=dict)  # wmdp: kind -> lm-eval built-in task names
    requests: list[str] = field(default_factory=list)  # forget splits applied one after another (sequential
    #                   unlearning requests, metrics after each); [] = one request, splits.forget
    metrics: dict | list = field(default_factory=dict)  # names (or name -> overrides); resolved: name -> MetricSpec
    path: str = ""

    def mcq_tasks(self, kind: str) -> list[str]:
        """wmdp: the metric stems of a kind's multiple-choice tasks (local files, then built-in)."""
        local = self.eval.get(kind) or {}
        return [slug(s) for s in local] + list(self.lm_eval_tasks.get(kind) or [])


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _check(task: Task, where: str) -> Task:
    from harness.families import get_track
    if not task.name or task.version < 1:
        raise ConfigError(f"{where}: 'name' and a positive integer 'version' are required")
    try:
        track = get_track(task.family)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    track.check_task(task, where)
    declared = {**track.metrics, **track.extra_metrics(task)}
    chosen = task.metrics if task.metrics else list(declared)
    if isinstance(chosen, list):
        chosen = {name: {} for name in chosen}
    if not isinstance(chosen, dict):
        raise ConfigError(f"{where}: 'metrics' must be a list of metric names or a mapping of names to overrides")
    specs = {}
    for name, over in chosen.items():
        if name not in declared:
            raise ConfigError(f"{where}: unknown metric '{name}' for family {task.family}"
                              + did_you_mean(name, sorted(declared)))
        over = over or {}
        bad = [k for k in (over if isinstance(over, dict) else {"?": 0}) if k not in OVERRIDABLE]
        if bad:
            raise ConfigError(f"{where}: metrics.{name}: only {', '.join(OVERRIDABLE)} can be set in a task file "
                              f"(direction, role and the rest are declared by the track), got '{bad[0]}'")
        try:
            specs[name] = from_dict(MetricSpec, {**asdict(declared[name]), **over}, where=f"metrics.{name}")
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
    task.metrics = specs
    return task


def _merged(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_task_data(path: Path, seen: tuple = ()) -> dict:
    """A task file's mapping with its `include:` (a path relative to the file) merged in."""
    if path in seen:
        raise ConfigError(f"{path}: include cycle ({' -> '.join(str(p) for p in (*seen, path))})")
    data = load_yaml(path)
    inc = data.pop("include", None)
    if inc is None:
        return data
    if not isinstance(inc, str) or not inc:
        raise ConfigError(f"{path}: 'include' must be the name of a task file, got {inc!r}")
    inc_path = (path.parent / inc).resolve()
    if not inc_path.exists():
        raise ConfigError(f"{path}: include '{inc}' not found ({inc_path})")
    return _merged(read_task_data(inc_path, (*seen, path)), data)


def load_task_file(path: Path) -> Task:
    data = read_task_data(Path(path))
    try:  # the file, then the key: "tasks/x.yaml: unknown task key 'splts'; did you mean 'splits'?"
        task = from_dict(Task, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {str(e).replace('config key', 'task key')}") from None
    task.path = str(path)
    return _check(task, str(path))


def resolved_yaml(task: Task) -> str:
    """The task as it ran (includes merged, metric declarations filled in): what a run folder keeps,
    so the leaderboard needs nothing but the folder."""
    body = {k: v for k, v in asdict(task).items() if k != "path"}
    return yaml.safe_dump(body, sort_keys=False)


def list_tasks() -> list[str]:
    return sorted(p.stem for p in TASKS_DIR.glob("*.yaml") if not p.name.startswith("_"))


def get_task(name: str) -> Task:
    """A task by name (tasks/<name>.yaml) or by path to a YAML file."""
    if name.endswith((".yaml", ".yml")):
        return load_task_file(Path(name))
    path = TASKS_DIR / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"unknown task '{name}'{did_you_mean(name, list_tasks())} "
                          f"(available: {', '.join(list_tasks())})")
    return load_task_file(path)
