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
from types import SimpleNamespace

from harness import models as MD
from harness.config import ConfigError
from harness.data import load_split
from harness.io import read_jsonl
from harness.units import Split, Unit

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


def split_authors(rows: list[dict], per: int, who: str = "attack relearn") -> tuple[list[dict], list[dict]]:
    """(relearn rows, probe rows): consecutive blocks of `per` rows are authors, verified to be one
    author each (above); even-numbered authors relearn, odd-numbered ones are probed. Needs
    at least two authors."""
    authors = author_blocks(rows, per, who)
    if len(authors) < 2:
        raise ConfigError(f"{who}: the forget split has one author; relearn and probe parts need two "
                          f"(a task with two forget authors or more, e.g. tofu_forget10 of the default world)")
    return [r for a in authors[0::2] for r in a], [r for a in authors[1::2] for r in a]


def author_split(data: dict, source: str | None, who: str, items_per_author_: int = 0) -> Split:
    """The units are authors: the forget evaluation's author blocks in two halves; the relearn part is
    the forget training rows of the even-numbered authors, the probe part the odd-numbered authors'
    evaluation items."""
    per = AuthorUnits.per(items_per_author_, source)
    relearn_eval, probe = split_authors(data["eval"]["forget"], per, who)
    asked = {r["question"] for r in relearn_eval}
    names = [author_name(relearn_eval[i:i + per]) for i in range(0, len(relearn_eval), per)], \
        [author_name(probe[i:i + per]) for i in range(0, len(probe), per)]
    return Split([r for r in data["forget"] if r["question"] in asked],
                 {**data, "eval": {**data["eval"], "forget": probe}}, names)


class AuthorUnits:
    """The family's units of knowledge for SISA's shards and DP's group privacy: authors. An author owns
    its block of QA rows (verified above), their extra phrasings, and is named in a forget
    request by its questions."""
    name = "authors"

    @staticmethod
    def per(items_per_author_: int, source: str | None) -> int:
        """Rows per author: the setting when given, else the world's manifest, else TOFU's 20."""
        return items_per_author(SimpleNamespace(items_per_author=items_per_author_), source)

    @staticmethod
    def count(task, source: str, per: int, who: str) -> int:
        full = task.splits.full
        return len(author_blocks(load_split(source, full), per, f"{who}: split {full}"))

    @staticmethod
    def build(source: str, splits: list[str], fmt, per: int, replay: bool, who: str = "method sisa"):
        """(examples, authors, replay indices): the target's fine-tuning examples in the target's order
        (QA rows, their phrasings, the replayed base corpus), and which of them each author owns."""
        (split,) = splits
        rows = load_split(source, split)
        blocks = author_blocks(rows, per, f"{who}: split {split}")
        examples = [fmt.encode(r["question"], r["answer"]) for r in rows]
        owner = {r["question"]: i // per for i, r in enumerate(rows)}
        units = [Unit(list(range(b * per, (b + 1) * per)), {r["question"] for r in blk}) for b, blk in enumerate(blocks)]
        folder = Path(source)
        if (folder / "phrasings.jsonl").exists():
            for p in read_jsonl(folder / "phrasings.jsonl"):
                if p["question"] in owner:
                    units[owner[p["question"]]].examples.append(len(examples))
                    examples.append(fmt.encode(p["prompt"], p["answer"]))
        start = len(examples)
        examples += MD.replay_examples(source, fmt, replay)
        return examples, units, list(range(start, len(examples)))

    @staticmethod
    def blocks(rows: list[dict], per: int, who: str) -> list[list[dict]]:
        """The rows cut into whole authors, verified (the in-context form's flipped answers)."""
        return author_blocks(rows, per, who)

    @staticmethod
    def label(block: list[dict]) -> str:
        """An author's name ('' when its rows share none)."""
        return author_name(block)

    @staticmethod
    def keys(rows: list[dict]) -> set:
        return {r["question"] for r in rows}

    @staticmethod
    def shown(keys: set) -> list[str]:
        """What a SISA run's shards.json lists a constituent trained on: the questions themselves."""
        return sorted(keys)


def _forget_names(data: dict, items_per_author_: int, source: str | None) -> list[str]:
    return [author_name(b) for b in author_blocks(data["forget"], AuthorUnits.per(items_per_author_, source), "")]


def pretend_fill(task, data: dict, source: str | None, items_per_author_: int) -> dict:
    """What the in-context form's pretend instruction names: the forget authors."""
    names = _forget_names(data, items_per_author_, source)
    return {"authors": ", ".join(n for n in names if n) or "the authors of the forget set", "topic": ""}


def selection_split(data: dict, source: str, task: str) -> tuple[dict, dict]:
    """(curve data, scored data) for a rule that chooses its step on held-out items
    (unlearn.select_on=held_out): the forget authors in two halves by whole authors, as the relearning
    attack splits them (even-numbered authors to the curve, odd-numbered to the evaluation), and for the
    curve's utility proxy the retain rows the evaluation does not score (retain_perturbed's authors are
    scored by model_utility). The run unlearns every forget author; it is scored on the half the rule
    never saw, against the retain model's numbers on that half."""
    per = AuthorUnits.per(0, source)
    blocks = author_blocks(data["eval"]["forget"], per, f"unlearn.select_on=held_out (task {task})")
    if len(blocks) < 2:
        raise ConfigError(f"config key 'unlearn.select_on': task {task} forgets {len(blocks)} author, and held-out "
                          f"selection needs two (one for the rule, one to score): set unlearn.select_on=evaluated")
    ev = data["eval"]
    scored_retain = {r["question"] for r in ev["retain"]}
    spare = [r for r in data["retain"] if r["question"] not in scored_retain] or ev["retain"]
    curve = {**data, "eval": {**ev, "forget": [r for b in blocks[0::2] for r in b], "retain": spare}}
    scored = {**data, "eval": {**ev, "forget": [r for b in blocks[1::2] for r in b]}}
    return curve, scored
