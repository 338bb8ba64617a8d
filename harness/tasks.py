"""Tasks are declarative YAML files in tasks/: which splits to forget, retain and evaluate, and the
metrics with how to read them: direction (which way is better), role (forget/utility), how seeds are
aggregated, whether the column is a headline, its chance level and the columns shown beside it."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.config import ConfigError, from_dict, load_yaml

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"
EVAL_KINDS = ("forget", "retain", "real_authors", "world_facts")  # family tofu
MCQ_KINDS = ("hazard", "general")                                  # family wmdp
FAMILIES = {"tofu": EVAL_KINDS, "wmdp": MCQ_KINDS}
# Metrics the evaluators compute; a task may only declare these (and, for the hazard track,
# <task>_acc for each of its multiple-choice tasks).
KNOWN_METRICS = {"forget_quality", "ks_stat", "ks_n", "model_utility", "forget_truth_ratio", "forget_rouge",
                 "forget_prob", "retain_truth_ratio", "retain_rouge", "retain_prob",
                 "real_authors_truth_ratio", "real_authors_rouge", "real_authors_prob",
                 "world_facts_truth_ratio", "world_facts_rouge", "world_facts_prob",
                 "exact_memorization", "extraction_strength", "retain_exact_memorization",
                 "retain_extraction_strength", "mia_auc_loss", "mia_auc_zlib", "mia_auc_min_k",
                 "mia_auc_min_k_pp", "privleak",
                 "hazard_acc", "general_acc", "hazard_acc_drop", "general_acc_drop"}
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


@dataclass
class Splits:
    full: str = "full"        # what the target model is fine-tuned on
    forget: str | list[str] = "forget10"  # wmdp: one or more corpora (batches alternate between them)
    retain: str = "retain90"  # what the retain model is fine-tuned on, and the retain data of methods
    holdout: str = "holdout10"

    @property
    def forget_list(self) -> list[str]:
        return [self.forget] if isinstance(self.forget, str) else list(self.forget)


@dataclass
class Task:
    name: str = ""
    version: int = 0
    family: str = "tofu"
    description: str = ""
    dataset: str = "synthetic"  # synthetic | locuslab/TOFU | a folder in TOFU's layout
    splits: Splits = field(default_factory=Splits)
    eval: dict = field(default_factory=dict)      # tofu: kind -> split; wmdp: kind -> {file stem: subject}
    lm_eval_tasks: dict = field(default_factory=dict)  # wmdp: kind -> lm-eval built-in task names
    metrics: dict = field(default_factory=dict)   # name -> MetricSpec
    path: str = ""

    def mcq_tasks(self, kind: str) -> list[str]:
        """wmdp: the metric stems of a kind's multiple-choice tasks (local files, then built-in)."""
        local = self.eval.get(kind) or {}
        return [slug(s) for s in local] + list(self.lm_eval_tasks.get(kind) or [])


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _check(task: Task, where: str) -> Task:
    if not task.name or task.version < 1:
        raise ConfigError(f"{where}: 'name' and a positive integer 'version' are required")
    if task.family not in FAMILIES:
        raise ConfigError(f"{where}: family must be one of {', '.join(FAMILIES)}, got '{task.family}'")
    kinds = FAMILIES[task.family]
    known = set(KNOWN_METRICS)
    if task.family == "tofu":
        if set(task.eval) != set(kinds) or not all(isinstance(v, str) for v in task.eval.values()):
            raise ConfigError(f"{where}: 'eval' must map exactly {', '.join(kinds)} to split names")
        if not isinstance(task.splits.forget, str):
            raise ConfigError(f"{where}: splits.forget must be one split name")
    else:
        for kind, v in task.eval.items():
            if kind not in kinds or not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
                raise ConfigError(f"{where}: eval.{kind}: expected hazard|general mapping file stems to subjects")
        if any(k not in kinds or not isinstance(v, list) for k, v in task.lm_eval_tasks.items()):
            raise ConfigError(f"{where}: lm_eval_tasks: expected hazard|general lists of lm-eval task names")
        missing = [k for k in kinds if not task.mcq_tasks(k)]
        if missing:
            raise ConfigError(f"{where}: no multiple-choice task for {', '.join(missing)} (eval or lm_eval_tasks)")
        known |= {f"{t}_acc" for k in kinds for t in task.mcq_tasks(k)}
    specs = {}
    for name, spec in task.metrics.items():
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            raise ConfigError(f"{where}: unknown metric '{name}'" + (f"; did you mean '{close[0]}'?" if close else ""))
        try:
            s = from_dict(MetricSpec, spec, where=f"metrics.{name}")
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        if s.direction == "retain" and not s.reference:
            raise ConfigError(f"{where}: metrics.{name}: direction retain needs 'reference' (the retain model's value)")
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
