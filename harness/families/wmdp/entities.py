"""The hazardous-knowledge family's units of knowledge: the evaluated entities of the synthetic hazard
world (the relearning split, and the documents a control base is pretrained without).

Each hazard MCQ asks about one entity in one of the world's question templates (world.py,
HAZARD); an entity's documents are the forget-corpus documents that name it (three statements and a Q&A
page; the format entities, which have no MCQs, are in neither part). Even-numbered entities relearn,
odd ones are probed. Real WMDP maps no question to a corpus document: relearning then uses the
even-numbered documents of each forget corpus and every question is probed."""
from __future__ import annotations

import re

from harness.config import ConfigError
from harness.units import Split, halves, namer, world_kind
from harness.families.wmdp import world as hazard

_QUESTIONS = [re.compile("^" + re.escape(q).replace(re.escape("{e}"), "(.+)") + "$")
              for _vals, _statements, q, _qa in hazard.HAZARD.values()]


def entity(question: str) -> str | None:
    """The entity a hazard MCQ of the synthetic world asks about (its question template filled)."""
    for q in _QUESTIONS:
        if m := q.match(question):
            return m.group(1)
    return None


def hazard_entities(data: dict, source: str | None) -> list[str] | None:
    """The evaluated hazard entities (those with MCQs) in question order; None unless the data is the
    synthetic hazard world, or when a hazard question is not in one of its templates."""
    if world_kind(source) != "hazard":
        return None
    rows = [r for m in data["mcq"].values() if m["kind"] == "hazard" for r in m["rows"]]
    names = [entity(r["question"]) for r in rows]
    return list(dict.fromkeys(names)) if names and None not in names else None


def hazard_documents(data: dict, source: str | None) -> list[str] | None:
    """Every forget-corpus document that names an evaluated hazard entity (what the hazard control
    base is pretrained without); None where there is no such mapping (real data)."""
    names = hazard_entities(data, source)
    if not names:
        return None
    named = namer(names)
    return [d for corpus in data["forget"] for d in corpus if named(d)]


def entity_split(data: dict, source: str | None, who: str, items_per_author: int = 0) -> Split:
    """The forget corpora and the hazard questions in two halves of whole entities."""
    if items_per_author:
        raise ConfigError(f"{who}: items_per_author applies to TOFU tasks only")
    if world_kind(source) != "hazard":  # real WMDP: half of each forget corpus, every question probed
        relearn = [corpus[0::2] for corpus in data["forget"]]
        halves([d for c in data["forget"] for d in c], ("document", "documents"), who)
        return Split(relearn, data, ([], []))
    names = hazard_entities(data, source)
    if names is None:
        raise ConfigError(f"{who}: a hazard question is not in the hazard world's templates "
                          f"(not the synthetic world's layout)")
    relearn_names, probe_names = halves(names, ("evaluated entity", "evaluated entities"), who)
    named = namer(names)
    relearn = [[d for d in corpus if named(d) and named(d) <= set(relearn_names)] for corpus in data["forget"]]
    have = {n for corpus in data["forget"] for d in corpus for n in named(d)}
    if missing := [n for n in names if n not in have]:
        raise ConfigError(f"{who}: no forget document names the entity {missing[0]!r}")
    mcq = {stem: {**m, "rows": [r for r in m["rows"] if entity(r["question"]) in probe_names]}
           if m["kind"] == "hazard" else m for stem, m in data["mcq"].items()}
    if empty := [stem for stem, m in mcq.items() if not m["rows"]]:  # lm-eval cannot score an empty task
        raise ConfigError(f"{who}: no question of {empty[0]} asks about a probe entity")
    return Split(relearn, {**data, "mcq": mcq}, (relearn_names, probe_names))
