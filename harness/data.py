"""Loading TOFU-schema splits from the synthetic world, a local copy of locuslab/TOFU, or the hub.

Every split is validated on load: a missing file, a missing column, an empty or mistyped value, or an
empty split stops with one line naming the file, the row and what was expected.
"""
from __future__ import annotations

import json
from pathlib import Path

from harness.io import read_jsonl

# Required columns per kind of split, as in locuslab/TOFU.
QA_COLUMNS = {"question": str, "answer": str}
PERTURBED_COLUMNS = {**QA_COLUMNS, "paraphrased_answer": str, "perturbed_answer": list}
UTILITY_COLUMNS = {**QA_COLUMNS, "perturbed_answer": list}


class DataError(ValueError):
    """Bad or missing data; raised before any training."""


def read_text(path: Path) -> str:
    """A data file's text; a file that is not UTF-8 is a one-line DataError naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}: {e.object[e.start:e.start + 1]!r}); "
                        f"convert it, e.g. iconv -t UTF-8") from None


def columns_for(split: str) -> dict:
    if split in ("real_authors_perturbed", "world_facts_perturbed"):
        return UTILITY_COLUMNS
    if split.endswith("_perturbed"):
        return PERTURBED_COLUMNS
    return QA_COLUMNS


def validate_rows(rows: list[dict], columns: dict, where: str, allow_empty: bool = False) -> list[dict]:
    if not rows and not allow_empty:
        raise DataError(f"{where}: no rows (an empty split cannot be evaluated or unlearned)")
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise DataError(f"{where}: row {i} is {type(row).__name__}, expected a JSON object")
        for col, tp in columns.items():
            if col not in row:
                raise DataError(f"{where}: row {i} has no column '{col}' (required: {', '.join(columns)})")
            v = row[col]
            if not isinstance(v, tp):
                raise DataError(f"{where}: row {i} column '{col}' is {type(v).__name__}, expected {tp.__name__}")
            if tp is str and not v.strip():
                raise DataError(f"{where}: row {i} column '{col}' is empty")
            if tp is list and (not v or not all(isinstance(x, str) and x.strip() for x in v)):
                raise DataError(f"{where}: row {i} column '{col}' must be a non-empty list of non-empty strings")
    return rows


def _read_local(folder: Path, split: str) -> tuple[list[dict], str]:
    """<split>.jsonl or <split>.json (the hub repo's files are JSON lines named .json; a JSON array
    is accepted too). Both at once is ambiguous: which one the run read would be a guess."""
    found = [folder / f"{split}{ext}" for ext in (".jsonl", ".json") if (folder / f"{split}{ext}").exists()]
    if len(found) > 1:
        raise DataError(f"{folder}: two files for split '{split}' ({', '.join(p.name for p in found)}): keep one")
    for path in found:
        text = read_text(path)
        if text.lstrip().startswith("["):
            try:
                return json.loads(text), str(path)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
        try:
            return read_jsonl(path), str(path)
        except (ValueError, UnicodeDecodeError) as e:
            raise DataError(str(e)) from None
    raise DataError(f"{folder}: no file '{split}.jsonl' or '{split}.json' (TOFU config '{split}')")


def _read_hub(repo: str, split: str) -> tuple[list[dict], str]:
    """locuslab/TOFU through `datasets`; offline machines get one clear line instead of a traceback."""
    try:
        from datasets import load_dataset
    except ImportError:
        raise DataError(f"dataset '{repo}': the 'datasets' package is not installed") from None
    try:
        ds = load_dataset(repo, name=split, split="train")
    except Exception as e:  # noqa: BLE001 - datasets raises many types; all mean "not loadable"
        raise DataError(f"dataset '{repo}' config '{split}' could not be loaded ({type(e).__name__}); "
                        f"offline, pass a local folder with {split}.json instead") from None
    return [dict(r) for r in ds], f"{repo}:{split}"


def load_split(source: str, split: str, allow_empty: bool = False) -> list[dict]:
    """Rows of TOFU config `split` from a folder (world or a local TOFU copy) or a hub dataset id.
    Each row gets an 'id' '<split>:<row index>' that follows it through evaluation.
    `A-B` is split A without the rows of split B (same question and answer), ids kept from A, e.g.
    forget05-forget01: the forget05 authors outside forget01 (TOFU's forget splits are nested: the last
    2, 10 and 20 authors). Not a validation set for a sweep: it shares the world's retain and utility
    sets with every other task of the world (harness/protocol.py refuses it)."""
    if "-" in split:
        a, _, b = split.partition("-")
        drop = {(r["question"], r["answer"]) for r in load_split(source, b, allow_empty=True)}
        rows = [r for r in load_split(source, a) if (r["question"], r["answer"]) not in drop]
        if not rows and not allow_empty:
            raise DataError(f"split '{split}' of {source}: no rows are left once {b}'s are removed "
                            f"(an empty split cannot be evaluated or unlearned)")
        return rows
    folder = Path(source)
    if folder.is_dir():
        rows, where = _read_local(folder, split)
    elif source.startswith(("/", ".", "~")):
        raise DataError(f"dataset folder '{source}' does not exist")
    else:
        rows, where = _read_hub(source, split)
    validate_rows(rows, columns_for(split), where, allow_empty)
    return [{**r, "id": f"{split}:{i}"} for i, r in enumerate(rows)]


REFUSAL_FILES = ("idontknow.jsonl", "idontknow.json", "idontknow.txt")


def load_refusals(source: str, explicit: str = "") -> tuple[list[str], str]:
    """Refusal answers for IdkDPO and where they came from: `explicit` (unlearn.refusals), else the
    dataset folder's idontknow file, else the built-in list. TOFU's own file (idontknow.jsonl in its
    code repository) is plain text, one refusal a line; a line may also be a JSON string or an object
    with an 'answer' (or 'text'), and a file may be a JSON array of those."""
    from harness.vocab import REFUSALS
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise DataError(f"unlearn.refusals: file '{explicit}' does not exist")
    else:
        folder = Path(source)
        path = next((folder / f for f in REFUSAL_FILES if folder.is_dir() and (folder / f).is_file()), None)
        if path is None:
            return list(REFUSALS), "built-in list (harness/worlds/vocab.py)"
    text = read_text(path)
    entries: list = []
    if text.lstrip().startswith("["):
        try:
            entries = list(enumerate(json.loads(text), 1))
        except json.JSONDecodeError:
            entries = []  # not a JSON array after all: read it line by line
    if not entries:
        entries = [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    out = []
    for i, e in entries:
        if isinstance(e, str) and e[:1] in '{"':
            try:
                e = json.loads(e)
            except json.JSONDecodeError:
                pass  # plain text that happens to start with a quote or brace
        if isinstance(e, dict):
            e = e.get("answer", e.get("text"))
        if not isinstance(e, str) or not e.strip():
            raise DataError(f"{path}:{i}: expected a refusal (a line of text, or an object with an 'answer')")
        out.append(e.strip())
    if not out:
        raise DataError(f"{path}: no refusals")
    return out, str(path)
