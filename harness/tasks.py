"""Tasks are declarative YAML files in tasks/: which splits to forget, retain and evaluate, and the
metrics with their direction (higher/lower is better) and role (forget/utility)."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import ConfigError, from_dict, load_yaml

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"
EVAL_KINDS = ("forget", "retain", "real_authors", "world_facts")  # family tofu
MCQ_KINDS = ("hazard", "general")                                  # family wmdp
FAMILIES = {"tofu": EVAL_KINDS, "wmdp": MCQ_KINDS}
# Metrics the TOFU evaluator computes; a task may only declare these.
KNOWN_METRICS = {"forget_quality", "ks_stat", "model_utility", "forget_truth_ratio", "forget_rouge",
                 "forget_prob", "retain_truth_ratio", "retain_rouge", "retain_prob",
                 "real_authors_truth_ratio", "real_authors_rouge", "real_authors_prob",
                 "world_facts_truth_ratio", "world_facts_rouge", "world_facts_prob",
                 "exact_memorization", "extraction_strength", "retain_exact_memorization",
                 "retain_extraction_strength", "mia_auc_loss", "mia_auc_zlib", "mia_auc_min_k",
                 "mia_auc_min_k_pp", "privleak",
                 "hazard_acc", "general_acc", "hazard_acc_drop", "general_acc_drop"}
DIRECTIONS = ("higher", "lower", "zero")  # zero: closer to 0 is better (privleak)


@dataclass
class MetricSpec:
    direction: str = "higher"  # higher | lower | zero (closer to 0): which way is better
    role: str = "forget"       # forget | utility
    description: str = ""


@dataclass
class Splits:
    full: str = "full"        # what the target model is fine-tuned on
    forget: str = "forget10"
    retain: str = "retain90"  # what the retain model is fine-tuned on, and the retain data of methods
    holdout: str = "holdout10"


@dataclass
class Task:
    name: str = ""
    version: int = 0
    family: str = "tofu"
    description: str = ""
    dataset: str = "synthetic"  # synthetic | locuslab/TOFU | a folder in TOFU's layout
    splits: Splits = field(default_factory=Splits)
    eval: dict = field(default_factory=dict)      # kind -> split name (wmdp: local MCQ file stem)
    lm_eval_tasks: dict = field(default_factory=dict)  # wmdp: kind -> lm-eval task names (real data)
    metrics: dict = field(default_factory=dict)   # name -> MetricSpec
    path: str = ""


def _check(task: Task, where: str) -> Task:
    if not task.name or task.version < 1:
        raise ConfigError(f"{where}: 'name' and a positive integer 'version' are required")
    if task.family not in FAMILIES:
        raise ConfigError(f"{where}: family must be one of {', '.join(FAMILIES)}, got '{task.family}'")
    kinds = FAMILIES[task.family]
    if set(task.eval) != set(kinds) and not (task.family == "wmdp" and set(task.lm_eval_tasks) == set(kinds)):
        raise ConfigError(f"{where}: 'eval' must map exactly {', '.join(kinds)} to split names")
    specs = {}
    for name, spec in task.metrics.items():
        if name not in KNOWN_METRICS:
            close = difflib.get_close_matches(name, sorted(KNOWN_METRICS), n=1)
            raise ConfigError(f"{where}: unknown metric '{name}'" + (f"; did you mean '{close[0]}'?" if close else ""))
        s = from_dict(MetricSpec, spec, where=f"{where}: metrics.{name}")
        if s.direction not in DIRECTIONS or s.role not in ("forget", "utility"):
            raise ConfigError(f"{where}: metrics.{name} needs direction {'|'.join(DIRECTIONS)} and role forget|utility")
        specs[name] = s
    if not specs:
        raise ConfigError(f"{where}: 'metrics' is empty")
    task.metrics = specs
    return task


def load_task_file(path: Path) -> Task:
    data = load_yaml(path)
    task = from_dict(Task, data, where=str(path))
    task.path = str(path)
    return _check(task, str(path))


def list_tasks() -> list[str]:
    return sorted(p.stem for p in TASKS_DIR.glob("*.yaml"))


def get_task(name: str) -> Task:
    """A task by name (tasks/<name>.yaml) or by path to a YAML file."""
    if name.endswith((".yaml", ".yml")):
        return load_task_file(Path(name))
    path = TASKS_DIR / f"{name}.yaml"
    if not path.exists():
        close = difflib.get_close_matches(name, list_tasks(), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown task '{name}'{hint} (available: {', '.join(list_tasks())})")
    return load_task_file(path)
