"""Multiple-choice evaluation through lm-eval, and the loaders of the WMDP schemas.

Used by the hazardous-knowledge track (harness/track_wmdp.py).

- `load_mcq`: rows in the schema of `cais/wmdp` (`question`, 4 `choices`, `answer` index 0-3); a bad
  row is reported with its file and line number.
- `load_corpus`: documents in the schema of `cais/wmdp-corpora` (one JSON object with `text` a line).
- `local_task_yaml`: an lm-eval task file for a local MCQ file (dataset_path json + data_files).
- `check_task_yaml`: lm-eval skips a task file that does not parse at debug level, silently; this
  checks every file first and fails loudly with its name.
- `accuracy`: `lm_eval.simple_evaluate` on an in-memory model wrapped in `HFLM`, restoring what lm-eval
  changes (train/eval mode, the tokenizer's pad token) so nothing leaks into training.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from harness.config import ConfigError
from harness.data import DataError

N_CHOICES = 4


def _rows(path: Path) -> list[tuple[int, object]]:
    """(line number, parsed row) of a JSON-lines file, or of a JSON array (line = index + 1)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            return list(enumerate(json.loads(text), 1))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append((i, json.loads(line)))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{i}: not valid JSON ({e.msg})") from None
    return out


def load_mcq(path: Path) -> list[dict]:
    """MCQ rows in the cais/wmdp schema, validated."""
    rows = []
    for line, r in _rows(path):
        where = f"{path}:{line}"
        if not isinstance(r, dict) or not isinstance(r.get("question"), str) or not r["question"].strip():
            raise DataError(f"{where}: expected an object with a non-empty 'question'")
        ch = r.get("choices")
        if not isinstance(ch, list) or len(ch) != N_CHOICES or not all(isinstance(c, str) and c.strip() for c in ch):
            n = len(ch) if isinstance(ch, list) else type(ch).__name__
            raise DataError(f"{where}: 'choices' must be {N_CHOICES} non-empty strings, got {n}")
        a = r.get("answer")
        if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < N_CHOICES:
            raise DataError(f"{where}: 'answer' must be an index 0-{N_CHOICES - 1}, got {a!r}")
        rows.append({"question": r["question"], "choices": ch, "answer": a})
    if not rows:
        raise DataError(f"{path}: no questions")
    return rows


def load_corpus(path: Path) -> list[str]:
    """Documents in the cais/wmdp-corpora schema: one {"text": ...} object a line."""
    docs = []
    for line, r in _rows(path):
        if not isinstance(r, dict) or not isinstance(r.get("text"), str) or not r["text"].strip():
            raise DataError(f"{path}:{line}: expected an object with a non-empty 'text'")
        docs.append(r["text"])
    if not docs:
        raise DataError(f"{path}: no documents")
    return docs


def local_task_yaml(name: str, data_file: Path) -> str:
    """An lm-eval multiple-choice task over a local JSON(-lines) file in the cais/wmdp schema, zero-shot,
    prompted as the WMDP tasks are ("<question>\\nAnswer:" with the choices as continuations)."""
    spec = {
        "task": name, "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(Path(data_file).resolve())}},
        "test_split": "test", "output_type": "multiple_choice",
        "doc_to_text": "Question: {{question.strip()}}\nAnswer:", "doc_to_choice": "{{choices}}",
        "doc_to_target": "{{answer}}",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1},
    }
    return yaml.safe_dump(spec, sort_keys=False)


def check_task_yaml(path: Path) -> dict:
    """Parse an lm-eval task file and check its local data file exists; fail loudly with the name."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"lm-eval task file '{path}' does not parse ({type(e).__name__}: "
                          f"{str(e).splitlines()[0]})") from None
    if not isinstance(spec, dict) or "task" not in spec:
        raise ConfigError(f"lm-eval task file '{path}': expected a mapping with a 'task' name")
    files = ((spec.get("dataset_kwargs") or {}).get("data_files") or {})
    for split, f in (files.items() if isinstance(files, dict) else []):
        if not Path(f).exists():
            raise ConfigError(f"lm-eval task file '{path}': data file '{f}' ({split}) does not exist")
    return spec


def accuracy(model, tokenizer, include_path: Path | None, tasks: list[str], batch_size: int = 32,
             max_length: int | None = None) -> dict[str, float]:
    """Zero-shot accuracy of an in-memory model on lm-eval tasks found under `include_path`, or on
    lm-eval's built-in tasks (wmdp_bio, mmlu, ...) when include_path is None."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    if include_path is not None:
        found = {check_task_yaml(f)["task"]: f for f in sorted(Path(include_path).glob("*.yaml"))}
        missing = [t for t in tasks if t not in found]
        if missing:
            raise ConfigError(f"lm-eval task(s) {missing} not found in {include_path} (found: {sorted(found)})")
    was_training, pad = model.training, tokenizer.pad_token  # lm-eval changes both
    try:
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size,
                  device=str(next(model.parameters()).device), max_length=max_length)
        tm = TaskManager(include_path=str(include_path), include_defaults=False) if include_path \
            else TaskManager()
        res = lm_eval.simple_evaluate(model=lm, tasks=list(tasks), task_manager=tm, log_samples=False,
                                      verbosity="ERROR")
    finally:
        model.train(was_training)
        tokenizer.pad_token = pad
    return {t: float(res["results"][t]["acc,none"]) for t in tasks}
