"""Claims: so that two processes (two cluster array tasks, two shells) never compute the same thing.

A claim is a lock file created atomically (O_CREAT | O_EXCL) next to what it protects, holding the
owner's host, pid and start time. While held, a thread refreshes its modification time (a heartbeat).
A claim is stale when its owner is gone: on the same host, its pid no longer exists; on another host
(a shared file system), its heartbeat is older than HARNESS_CLAIM_STALE_S seconds (default 600).
A stale claim is broken under a second, short-lived lock file, so two processes that both find it
stale cannot both take it over.

Scratch folders are named `.<name>.<host>.<pid>.tmp`; whoever holds the claim on <name> removes the
scratch folders left by earlier owners (only the claim holder ever writes one).
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

HOST = socket.gethostname()
HEARTBEAT_S = 30.0


def stale_after_s() -> float:
    return float(os.environ.get("HARNESS_CLAIM_STALE_S", "600"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def owner(lock: Path) -> dict | None:
    """The claim's owner record, or None when there is no claim."""
    try:
        text = lock.read_text()
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        info = {}  # being written right now, or truncated by a crash
    info["age_s"] = age
    return info


def is_stale(info: dict) -> bool:
    if info.get("host") == HOST and isinstance(info.get("pid"), int):
        return not _alive(info["pid"])
    return info["age_s"] > stale_after_s()


def _create(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump({"host": HOST, "pid": os.getpid(), "started": time.time()}, f)
    return True


def _break_stale(lock: Path) -> None:
    """Remove `lock` if it is stale, under a breaker lock so only one process does it."""
    breaker = lock.with_name(lock.name + ".break")
    if not _create(breaker):
        info = owner(breaker)
        if info is not None and info["age_s"] > 60:  # a breaker that died mid-way
            with contextlib.suppress(FileNotFoundError):
                breaker.unlink()
        return
    try:
        info = owner(lock)
        if info is not None and is_stale(info):
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
    finally:
        breaker.unlink()


def describe(info: dict | None) -> str:
    if not info:
        return "another process"
    return f"{info.get('host', '?')}:{info.get('pid', '?')}"


def scratch_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{HOST}.{os.getpid()}.tmp")


def remove_orphans(final: Path) -> list[Path]:
    """Scratch folders of `final` left by earlier owners (call only while holding its claim)."""
    mine = scratch_name(final)
    gone = []
    for p in final.parent.glob(f".{final.name}.*.tmp"):
        if p != mine:
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p)
    return gone


class Claim:
    """`with Claim(path) as c:` -- `c.held` says whether this process owns it; `c.holder` names the
    owner otherwise. wait=True blocks until the claim is free (for shared caches: a model that another
    process is training is waited for, then reused)."""

    def __init__(self, target: Path, wait: bool = False, poll_s: float = 2.0, lock_dir: Path | None = None):
        self.target = Path(target)
        self.lock = (Path(lock_dir) / f"{self.target.name}.lock") if lock_dir else \
            self.target.with_name(f".{self.target.name}.lock")
        self.wait, self.poll_s = wait, poll_s
        self.held, self.holder = False, None
        self._stop = threading.Event()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(self.lock)

    def acquire(self) -> bool:
        self.lock.parent.mkdir(parents=True, exist_ok=True)
        while True:
            if _create(self.lock):
                self.held = True
                self._thread = threading.Thread(target=self._heartbeat, daemon=True)
                self._thread.start()
                return True
            info = owner(self.lock)
            if info is None:
                continue  # released between our two looks
            if is_stale(info):
                _break_stale(self.lock)
                continue
            self.holder = describe(info)
            if not self.wait:
                return False
            time.sleep(self.poll_s)

    def release(self) -> None:
        if self.held:
            self._stop.set()
            self._thread.join()
            with contextlib.suppress(FileNotFoundError):
                self.lock.unlink()
            self.held = False

    def __enter__(self) -> "Claim":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class Busy(RuntimeError):
    """A shared cache entry is being built by another process; raised by build_once only inside
    without_waiting(), where the caller has something else to do meanwhile."""


_NO_WAIT = contextvars.ContextVar("harness_no_wait", default=False)


@contextlib.contextmanager
def without_waiting() -> Iterator[None]:
    """Inside this block, build_once raises Busy instead of waiting for another process's build."""
    token = _NO_WAIT.set(True)
    try:
        yield
    finally:
        _NO_WAIT.reset(token)


@contextlib.contextmanager
def waiting() -> Iterator[None]:
    """Inside this block build_once waits again (a short shared build that everything after it needs,
    e.g. a pretrained base's replay answers: skipping it would skip every model that follows)."""
    token = _NO_WAIT.set(False)
    try:
        yield
    finally:
        _NO_WAIT.reset(token)


def build_once(target: Path, done: Path, build: Callable[[], object]) -> None:
    """Build a shared cache entry once: nothing to do when `done` (its completion marker) exists;
    otherwise claim `target`, waiting for a process already building it (or, inside
    without_waiting(), raising Busy), and build only if it did not finish meanwhile."""
    if done.exists():
        return
    with Claim(target, wait=not _NO_WAIT.get()) as c:
        if not c.held:
            raise Busy(f"{target} is being built by {c.holder}")
        if not done.exists():
            build()
