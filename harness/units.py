"""Units of knowledge: what a task family forgets whole (an author, an event, an entity, a document).

Everything that splits a forget set (the relearning attacks' relearn and probe parts, held-out checkpoint
selection) splits it by whole units, so that no unit is on both sides: knowledge that comes back on a
unit the attack never trained on was suppressed, not removed (Hu et al. 2025). Each family finds its own
units (its track's `relearn_split`); this module holds what they share."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from harness.config import ConfigError


@dataclass
class Unit:
    """One unit of a family's fine-tuning data (an author, a document): the indices of its examples and
    the keys a forget request names it by (an author's questions, a document's text). SISA shards by
    these (harness/forms/sisa.py); a family offers them as its track's `units` (harness/families/)."""
    examples: list[int]
    keys: set


@dataclass
class Split:
    relearn: list          # the relearn part, in the family's form of data["forget"]
    probe: dict            # the run's data with its forget evaluation limited to the probe part
    units: tuple[list[str], list[str]]  # (relearn, probe) units; ([], []) where the data maps none (real data)


def world_kind(source: str | None) -> str | None:
    """'news' / 'hazard' / 'authors' for a synthetic world's folder (its manifest), else None."""
    manifest = Path(source or "") / "MANIFEST.json"
    return json.loads(manifest.read_text()).get("kind") if manifest.is_file() else None


def halves(units: list, what: tuple[str, str], who: str) -> tuple[list, list]:
    """(even-numbered, odd-numbered) units; `what` names one unit and several; `who` starts the error."""
    if len(units) < 2:
        raise ConfigError(f"{who}: the forget set has {len(units)} {what[len(units) != 1]}; relearn "
                          f"and probe parts need two")
    return units[0::2], units[1::2]


def namer(names: list[str], upper: bool = False):
    """text -> the set of `names` it contains as whole words (upper: matched in the upper-cased text)."""
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b")
    return lambda text: set(pattern.findall(text.upper() if upper else text))
