"""Small file helpers: every artefact is written to a temporary name and renamed into place, so a
crash or Ctrl-C never leaves a half-written file or folder that a later run would trust."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator


def stable_hash(obj: Any, n: int = 12) -> str:
    """Hash of a JSON-able object, independent of dict key order."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict]:
    """Read a JSON-lines file; a malformed line fails with the file and line number."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: not valid JSON ({e.msg})") from None
    return rows


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a scratch folder; on success it replaces `final` in one rename, on error it is removed."""
    from harness.claim import scratch_name
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = scratch_name(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    tmp.replace(final)


def write_dataset_dir(out: Path, files: dict[str, list[dict]], manifest: dict) -> Path:
    """A generated dataset folder: one <stem>.jsonl per file and a MANIFEST.json (with each file's
    sha256) written last, all in one atomic rename. A folder with a manifest is complete."""
    with atomic_dir(out) as tmp:
        digests = {}
        for stem, rows in files.items():
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            (tmp / f"{stem}.jsonl").parent.mkdir(parents=True, exist_ok=True)  # 'config/split' stems
            (tmp / f"{stem}.jsonl").write_text(text, encoding="utf-8")
            digests[stem] = hashlib.sha256(text.encode()).hexdigest()
        (tmp / "MANIFEST.json").write_text(json.dumps({**manifest, "sha256": digests}, indent=1, sort_keys=True))
    return out
