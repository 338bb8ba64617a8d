"""Where a result came from: package versions, git commit, seed, machine."""
from __future__ import annotations

import datetime
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ["torch", "transformers", "tokenizers", "datasets", "accelerate", "peft", "lm_eval",
            "pandas", "scipy", "scikit-learn", "rouge_score", "numpy"]
REPO = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def provenance(seed: int, extra: dict | None = None) -> dict:
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "seed": seed,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(dirty) if dirty is not None else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "argv": sys.argv,
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "packages": versions(),
        **(extra or {}),
    }
