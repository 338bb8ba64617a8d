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


def shorten(text: str, n: int) -> str:
    """`text` cut to about n characters at a word boundary, with an ellipsis: messages never end mid-word."""
    text = " ".join(str(text).split())
    if len(text) <= n:
        return text
    cut = text[:n].rsplit(" ", 1)[0] if " " in text[:n] else text[:n]
    return cut.rstrip(" ,;:") + "…"


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


def check_writable_dir(path: Path, what: str) -> Path:
    """Before any compute: `path` is a folder this process can write in, or can be made one. A file in
    its place (or in place of a parent), or a location nothing can be written to, is one line
    (ConfigError), not a traceback when the first result is written. Nothing is left behind: the test
    file is written in the nearest folder that exists, and removed."""
    from harness.config import ConfigError
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{what} '{p}' is a file, not a folder")
    near = p
    while not near.exists() and near != near.parent:
        near = near.parent
    if not near.is_dir():
        raise ConfigError(f"{what} '{p}' cannot be a folder: '{near}' is a file")
    try:
        probe = near / f".write-test.{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"{what} '{p}' cannot be written ({e.strerror or type(e).__name__} in '{near}')") from None
    return p


REPO = Path(__file__).resolve().parent.parent
CACHE_MARK = "<cache>"  # how results name the harness's cache folder (HARNESS_CACHE, default .cache)


def cache_root() -> Path:
    """Where worlds, tokenizers, models and cached reference numbers live (HARNESS_CACHE)."""
    return Path(os.environ.get("HARNESS_CACHE", REPO / ".cache"))


def portable(path) -> str | None:
    """A path as a results folder records it, so a folder moved to another machine still says what it
    means: inside the harness's cache as '<cache>/models/target-...' (the same key names the same model
    in any cache), inside this repository relative to it; anything else (a folder or hub id the user
    gave) as given. local() reads it back."""
    if path is None:
        return None
    text = str(path)
    p = Path(text)
    if not p.is_absolute():
        return text
    for root, mark in ((cache_root().resolve(), CACHE_MARK), (REPO, None)):
        try:
            rel = p.resolve().relative_to(root)
        except ValueError:
            continue
        return f"{mark}/{rel}" if mark else str(rel)
    return text


def local(recorded: str) -> Path:
    """The path on this machine of a path portable() recorded."""
    if recorded.startswith(CACHE_MARK + "/"):
        return cache_root() / recorded[len(CACHE_MARK) + 1:]
    p = Path(recorded)
    return p if p.is_absolute() or p.exists() else REPO / p

