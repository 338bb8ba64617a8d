"""Authors of TOFU-layout data: the one reading of "author" for everything that works by whole authors
(the relearning attacks' split, SISA's shards, the in-context policies' names). TOFU's files have no
author column: an author is a block of consecutive QA rows (20 in TOFU; the synthetic world's manifest
says its own). A wrong block size would silently cut authors in two or put two in one block (for the
relearning split: half of every author relearned, the other half probed, the very leak the split
exists to prevent), so the blocks are verified against the names the rows mention before they are
used: every block one author, every author one block."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from harness.config import ConfigError

TOFU_ITEMS_PER_AUTHOR = 20  # locuslab/TOFU: 20 QA pairs per author, consecutive

# Words (letters, digits, hyphens, apostrophes), single spaces and everything else, in order: a name is
# a run of capitalised words joined by single spaces (a comma, a quote or a line break ends it).
# Unicode-aware: TOFU has "Aurelio Beltrán" and "Tae-ho Park".
_TOKEN = re.compile(r"[\w'’-]+| |.", re.S)
_FUNCTION_WORDS = {"The", "What", "Where", "When", "Who", "How", "Which", "Has", "Have", "Did", "Does", "Is",
                   "Are", "Can", "Could", "In", "Of", "A", "An", "His", "Her", "Their", "Yes", "No", "Name",
                   "Although", "As", "At", "By", "For", "From", "On", "To", "With"}
_MAX_WORDS = 5


def items_per_author(cfg, source: str | None) -> int:
    """How many consecutive rows make one author: `cfg.items_per_author` when set, else the synthetic
    world's manifest, else TOFU's 20."""
    if getattr(cfg, "items_per_author", 0):
        return cfg.items_per_author
    manifest = Path(source or "") / "MANIFEST.json"
    if manifest.is_file():
        per = json.loads(manifest.read_text()).get("profile", {}).get("qa_per_author")
        if per:
            return int(per)
    return TOFU_ITEMS_PER_AUTHOR


def _names(text: str) -> set[str]:
    """The capitalised runs of 2-5 words in a text, leading function words and a possessive dropped
    ("What did Nikolai Lindmere's father do" -> "Nikolai Lindmere")."""
    out, run = set(), []

    def flush():
        words = list(run)
        while words and words[0] in _FUNCTION_WORDS:
            words = words[1:]
        if 2 <= len(words) <= _MAX_WORDS:
            out.add(" ".join(words))
        run.clear()

    for tok in _TOKEN.findall(text):
        if tok[0].isalpha() and tok[0].isupper():
            bare = re.sub(r"['’]s$", "", tok)
            run.append(bare.rstrip("'’"))
            if bare != tok:  # "Lindmere's father": the name ends at the possessive
                flush()
        elif tok != " ":
            flush()
    flush()
    return out


def _name_counts(block: list[dict]) -> Counter:
    """How many rows of a block name each capitalised run (in the question or the answer)."""
    counts: Counter = Counter()
    for r in block:
        counts.update(sorted(_names(r["question"]) | _names(r["answer"])))  # sorted: ties break the same way
    return counts


def author_name(block: list[dict]) -> str:
    """The name an author's rows share: the capitalised run of 2-5 words that most of its questions and
    answers contain. '' when none is shared by half of them."""
    counts = _name_counts(block)
    if not counts:
        return ""
    name, n = counts.most_common(1)[0]
    return name if n * 2 >= len(block) else ""


def _related(a: str, b: str) -> bool:
    """One name's words inside the other's ("Basil Mahfouz" in "Basil Mahfouz Al-Kuwaiti"): one person."""
    return f" {a} " in f" {b} " or f" {b} " in f" {a} "


def check_blocks(blocks: list[list[dict]], per: int, what: str) -> None:
    """Refuse (one line naming the block and the names) unless every block is one author and every
    author one block:
    - a block whose most frequent name is in fewer than half its rows is not one author's;
    - two blocks about the same name are one author cut in two (items_per_author too small);
    - a block with a half where another name is more frequent than its author's holds two authors
      (items_per_author too large, or blocks that drift across authors).
    The synthetic world names the author in every question; TOFU's rows in most questions or answers.
    Other names (a birthplace asked about in several questions, a mentor who shares another author's
    name) are met less often than the author's in each half of the author's rows."""

    def where(b: int) -> str:
        return f"{what}: author block {b} (rows {(b - 1) * per + 1}-{b * per}, items_per_author={per})"

    tops = []
    for b, block in enumerate(blocks, 1):
        top = _name_counts(block).most_common()
        if not top or top[0][1] * 2 < len(block):
            found = ", ".join(f"{n} ({c})" for n, c in top[:2]) or "no capitalised name"
            raise ConfigError(f"{where(b)} has no name that half its rows share ({found}): not one author's rows "
                              f"(set items_per_author to the rows per author)")
        tops.append(top)
    seen: dict[str, int] = {}
    for b, top in enumerate(tops, 1):
        twin = next((i for n, i in seen.items() if _related(n, top[0][0])), None)
        if twin is not None:
            raise ConfigError(f"{where(b)} and block {twin} are both about {top[0][0]}: one author cut in two "
                              f"(items_per_author is too small)")
        seen[top[0][0]] = b
    for b, (block, top) in enumerate(zip(blocks, tops), 1):
        name = top[0][0]
        for half in (block[:len(block) // 2], block[len(block) // 2:]):
            counts = _name_counts(half)
            mine = max((c for n, c in counts.items() if _related(n, name)), default=0)
            other = max(((c, n) for n, c in counts.items() if not _related(n, name)), default=None)
            if other and other[0] > mine:
                raise ConfigError(f"{where(b)} names two authors, {name} and, in its other half, {other[1]}: "
                                  f"items_per_author is too large")


def author_blocks(rows: list[dict], per: int, what: str) -> list[list[dict]]:
    """Consecutive blocks of `per` rows, one per author, verified (check_blocks)."""
    if per < 1 or len(rows) % per:
        raise ConfigError(f"{what}: {len(rows)} rows are not whole authors of {per} (set items_per_author)")
    blocks = [rows[i:i + per] for i in range(0, len(rows), per)]
    check_blocks(blocks, per, what)
    return blocks
