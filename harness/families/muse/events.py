"""The document family's units of knowledge: the events of the synthetic news world (the relearning
split, the held-out selection, scope.py's sustainability parts) and the documents (SISA's shards).

Each event is about one town: its report opens with the town's dateline ("KORVANTON, 12 March."), its
Q&A explainer, knowmem questions and the rest of the report name the town. An item belongs to the event
towns it names (whole words); the events are the datelines of the forget split's reports, in order;
even-numbered events relearn, odd ones are probed. Real MUSE data maps no question to an article:
relearning then uses the even-numbered forget documents and every forget item is probed."""
from __future__ import annotations

import re

from harness import models as MD
from harness.config import ConfigError
from harness.families.muse import data as musedata
from harness.io import stable_hash
from harness.units import Split, Unit, halves, namer, world_kind

PROBED = ("verbmem", "knowmem_forget", "privleak_forget")  # the eval splits that ask about forget events
DATELINE = re.compile(r"([A-Z]+), \d")  # a report: "KORVANTON, 12 March. The Korvanton Harbour Trust ..."


def item_text(row: dict) -> str:
    return row.get("text") or row.get("prompt") or row["question"]


def towns(rows: list[dict]) -> list[str]:
    """The events of these texts: their reports' dateline towns, in order, once each."""
    return list(dict.fromkeys(m.group(1) for r in rows if (m := DATELINE.match(r["text"]))))


def event_split(data: dict, source: str | None, who: str, items_per_author: int = 0) -> Split:
    """The forget texts and evaluation items in two halves of whole events (`who` starts an error)."""
    if items_per_author:
        raise ConfigError(f"{who}: items_per_author applies to TOFU tasks only")
    if world_kind(source) != "news":  # real MUSE data: half of the forget documents, every item probed
        relearn, _ = halves(data["forget"], ("document", "documents"), who)
        return Split(relearn, data, ([], []))
    found_towns = [m.group(1) for r in data["forget"] if (m := DATELINE.match(r["text"]))]
    relearn_towns, probe_towns = halves(list(dict.fromkeys(found_towns)), ("event", "events"), who)
    named = namer(found_towns, upper=True)
    relearn = []
    for r in data["forget"]:
        found = named(r["text"])
        if len(found) != 1:
            raise ConfigError(f"{who}: forget text {r['id']} names {len(found)} events of the news "
                              f"world (expected one: not the synthetic world's layout)")
        if found <= set(relearn_towns):
            relearn.append(r)
    ev = dict(data["eval"])
    for k in PROBED:
        rows = []
        for r in ev[k]:
            found = named(item_text(r))
            if len(found) > 1:
                raise ConfigError(f"{who}: {k} item {r['id']} names {len(found)} events")
            if found and found <= set(probe_towns):  # items of no forget event (scal tasks) are left out
                rows.append(r)
        ev[k] = rows
    return Split(relearn, {**data, "eval": ev}, (relearn_towns, probe_towns))


class DocumentUnits:
    """The family's units of knowledge for SISA's shards: documents. A document owns its windows of
    tokens and is named in a forget request by its text."""
    name = "documents"

    @staticmethod
    def per(items_per_author_: int, source: str | None) -> int:
        return 0  # a document is one row

    @staticmethod
    def count(task, source: str, per: int, who: str) -> int:
        return sum(len(musedata.load(source, s)) for s in task.splits.model_splits("target"))

    @staticmethod
    def build(source: str, splits: list[str], fmt, per: int, replay: bool, who: str = "method sisa"):
        """Every document of the target's splits is a unit (its windows of tokens go together), in the
        target's order, then the replayed base corpus."""
        examples, units = [], []
        for split in splits:
            for row in musedata.load(source, split):
                chunk = musedata.chunks(fmt, row["text"])
                units.append(Unit(list(range(len(examples), len(examples) + len(chunk))), {row["text"]}))
                examples += chunk
        start = len(examples)
        examples += MD.replay_examples(source, fmt, replay)
        return examples, units, list(range(start, len(examples)))

    @staticmethod
    def keys(rows: list[dict]) -> set:
        return {r["text"] for r in rows}

    @staticmethod
    def shown(keys: set) -> list[str]:
        """What a SISA run's shards.json lists a constituent trained on: each document's text hash."""
        return sorted(stable_hash(k, 16) for k in keys)
