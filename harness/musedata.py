"""Loading MUSE-schema data (muse-bench/MUSE-News, muse-bench/MUSE-Books, the synthetic news world).

A split is named `<config>/<split>`, e.g. `raw/forget`, `knowmem/retain_qa`, `scal/forget_2`. It is read
from a local folder in the public layout, `<folder>/<config>/<split>.jsonl` (or `.json`, `.parquet`,
or the hub snapshot's `<split>-00000-of-00001.parquet`), or from the hub by dataset id
(`datasets.load_dataset(id, config, split=split)`; offline this is one clear line, not a traceback).

Every split is validated on load, before any training: a missing config or split, a malformed line, a
missing or empty field, or an empty split stops with one line naming the file and the line.
"""
from __future__ import annotations

import json
from pathlib import Path

from harness.data import DataError, read_text

# Fields per config, as in the public datasets.
FIELDS = {"raw": ("text",), "privleak": ("text",), "scal": ("text",), "sust": ("text",), "train": ("text",),
          "verbmem": ("prompt", "gt"), "knowmem": ("question", "answer")}


def split_ref(ref: str) -> tuple[str, str]:
    """'raw/forget' -> ('raw', 'forget'); a reference without a known config is a one-line error."""
    config, _, split = ref.partition("/")
    if not split or config not in FIELDS:
        raise DataError(f"split '{ref}': expected <config>/<split> with config one of {', '.join(FIELDS)} "
                        f"(e.g. raw/forget, knowmem/forget_qa)")
    return config, split


def _check(row, fields: tuple[str, ...], where: str) -> dict:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for f in fields:
        if f not in row:
            raise DataError(f"{where}: no field '{f}' (required: {', '.join(fields)})")
        if not isinstance(row[f], str) or not row[f].strip():
            raise DataError(f"{where}: field '{f}' must be a non-empty string")
    return row


def _read_file(path: Path, fields: tuple[str, ...]) -> list[dict]:
    if path.suffix == ".parquet":
        import pandas as pd
        try:
            rows = pd.read_parquet(path).to_dict("records")
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise DataError(f"{path}: not a readable parquet file ({type(e).__name__})") from None
        return [_check(r, fields, f"{path}: row {i}") for i, r in enumerate(rows, 1)]
    text = read_text(path)
    if text.lstrip().startswith("["):  # a JSON array (the MUSE repository ships .json files)
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
        return [_check(r, fields, f"{path}: item {i}") for i, r in enumerate(rows, 1)]
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{i}: not valid JSON ({e.msg})") from None
        rows.append(_check(row, fields, f"{path}:{i}"))
    return rows


def _local_file(folder: Path, config: str, split: str) -> Path:
    sub = folder / config
    if not sub.is_dir():
        raise DataError(f"{folder}: no config folder '{config}/' (MUSE layout: <config>/<split>.jsonl)")
    for name in (f"{split}.jsonl", f"{split}.json", f"{split}.parquet"):
        if (sub / name).is_file():
            return sub / name
    shards = sorted(sub.glob(f"{split}-*.parquet"))
    if len(shards) == 1:
        return shards[0]
    have = sorted({p.name.split(".")[0].split("-")[0] for p in sub.iterdir() if p.is_file()})
    raise DataError(f"{sub}: no split '{split}' (.jsonl, .json or .parquet); found: {', '.join(have) or 'nothing'}")


def _read_hub(repo: str, config: str, split: str, fields: tuple[str, ...]) -> list[dict]:
    try:
        from datasets import load_dataset
        ds = load_dataset(repo, config, split=split)
    except Exception as e:  # noqa: BLE001 - datasets raises many types; all mean "not loadable"
        raise DataError(f"dataset '{repo}' config '{config}' split '{split}' could not be loaded "
                        f"({type(e).__name__}); offline, pass a local folder in the MUSE layout "
                        f"(<folder>/{config}/{split}.jsonl)") from None
    return [_check(dict(r), fields, f"{repo}:{config}/{split}: row {i}") for i, r in enumerate(ds, 1)]


def load(source: str, ref: str) -> list[dict]:
    """The rows of split `ref` ('config/split') with an 'id' '<ref>:<row index>' each; never empty."""
    config, split = split_ref(ref)
    fields = FIELDS[config]
    folder = Path(source)
    if folder.is_dir():
        path = _local_file(folder, config, split)
        rows, where = _read_file(path, fields), str(path)
    elif source.startswith(("/", ".", "~")):
        raise DataError(f"dataset folder '{source}' does not exist")
    else:
        rows, where = _read_hub(source, config, split, fields), f"{source}:{ref}"
    if not rows:
        raise DataError(f"{where}: no rows (an empty split cannot be unlearned or evaluated)")
    return [{**{f: r[f] for f in fields}, "id": f"{ref}:{i}"} for i, r in enumerate(rows)]


def qa_block(question: str, answer: str = "") -> str:
    """One question-answer pair in MUSE's KnowMem prompt format; without an answer, the open prompt."""
    return f"Question: {question}\nAnswer:" + (f" {answer}" if answer else "")


def knowmem_prompt(shots: list[dict], question: str) -> str:
    """MUSE's few-shot KnowMem prompt: the in-context pairs, then the open question, blank-line separated.
    The answer is the greedy continuation up to the first line break."""
    return "\n\n".join([qa_block(s["question"], s["answer"]) for s in shots] + [qa_block(question)])
