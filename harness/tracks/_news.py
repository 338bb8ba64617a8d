"""The document track's units: the events of the synthetic news world (used by tracks/muse.py and
harness/musescope.py; a module named _* is a helper, not a registered track).

Each event is about one town: its report opens with the town's dateline ("KORVANTON, 12 March."), its
Q&A explainer, knowmem questions and the rest of the report name the town. An item belongs to the event
towns it names (whole words); the events are the datelines of the forget split's reports, in order;
even-numbered events relearn, odd ones are probed. Real MUSE data maps no question to an article:
relearning then uses the even-numbered forget documents and every forget item is probed."""
from __future__ import annotations

import re

from harness.config import ConfigError
from harness.units import Split, halves, namer, world_kind

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
