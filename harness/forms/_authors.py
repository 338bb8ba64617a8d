"""Authors of TOFU-layout data, for the forms that work by whole authors (SISA's shards, the
in-context policies' names). TOFU's files have no author column: an author is a block of consecutive
QA rows (20 in TOFU, the synthetic world's manifest says its own), as the relearning attack reads them."""
from __future__ import annotations

import re
from collections import Counter

from harness.attacks.relearn import items_per_author  # noqa: F401 (re-exported: the one reading of "per author")
from harness.config import ConfigError

_NAME = re.compile(r"\b([A-Z][a-z]+(?:[ -][A-Z][a-z]+){1,3})\b")
_FUNCTION_WORDS = {"The", "What", "Where", "When", "Who", "How", "Which", "Has", "Have", "Did", "Does", "Is",
                   "Are", "Can", "Could", "In", "Of", "A", "An", "His", "Her", "Their"}


def author_blocks(rows: list[dict], per: int, what: str) -> list[list[dict]]:
    """Consecutive blocks of `per` rows, one per author."""
    if per < 1 or len(rows) % per:
        raise ConfigError(f"{what}: {len(rows)} rows are not whole authors of {per} (set items_per_author)")
    return [rows[i:i + per] for i in range(0, len(rows), per)]


def author_name(block: list[dict]) -> str:
    """The name an author's rows share: the capitalised word run (2-4 words) that most of its
    questions and answers contain. '' when none is shared by half of them."""
    counts: Counter = Counter()
    for r in block:
        found = set()
        for text in (r["question"], r["answer"]):
            for m in _NAME.finditer(text):
                words = m.group(1).split(" ")
                while words and words[0] in _FUNCTION_WORDS:  # "Where Nikolai Lindmere" -> "Nikolai Lindmere"
                    words = words[1:]
                if len(words) >= 2:
                    found.add(" ".join(words))
        counts.update(found)
    if not counts:
        return ""
    name, n = counts.most_common(1)[0]
    return name if n * 2 >= len(block) else ""
