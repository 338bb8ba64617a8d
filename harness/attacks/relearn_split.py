"""How the relearning attacks (relearn.py) split a forget set into a relearn part and a probe part.

Hu et al. 2025 (*Unlearning or Obfuscating?*) relearn on one part of the forget data and ask about
another: knowledge that comes back on items the attack never trained on was suppressed, not removed.
That reading needs the two parts to share no unit of knowledge, so every split is by whole units:
- TOFU: authors (relearn.py's split_authors: consecutive blocks of QA rows);
- MUSE (the synthetic news world): events. Each event is about one town: its report opens with the
  town's dateline ("KORVANTON, 12 March."), its Q&A explainer, knowmem questions and the rest of the
  report name the town. An item belongs to the event towns it names (whole words); the events are the
  datelines of the forget split's reports, in order; even-numbered events relearn, odd ones are probed.
- the hazard track (the synthetic hazard world): evaluated entities. Each hazard MCQ asks about one
  entity in one of the world's question templates (harness/worlds/hazard.py, HAZARD); an entity's
  documents are the forget-corpus documents that name it (three statements and a Q&A page; the
  format entities, which have no MCQs, are in neither part). Even-numbered entities relearn, odd
  ones are probed.
Real data has no such mapping (MUSE-News's questions are not tied to articles, WMDP's questions not
to corpus documents): relearning then uses the even-numbered forget documents and every forget item is
probed. The probe items may then overlap the relearn text; the control (the same attack on a model
that never learned the forget data, harness/attack_run.py) is what makes those numbers readable.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from harness.config import ConfigError
from harness.worlds import hazard

MUSE_PROBED = ("verbmem", "knowmem_forget", "privleak_forget")  # the eval splits that ask about forget events


@dataclass
class Split:
    relearn: list          # the relearn part, in the track's form of data["forget"] (muse: rows, wmdp: corpora)
    probe: dict            # the run's data with its forget evaluation limited to the probe part
    units: tuple[list[str], list[str]]  # (relearn, probe) events / entities; ([], []) for real data


def family_of(data: dict) -> str:
    """The track a run's data comes from, by its shape (attack checks see the data, not the task)."""
    if "mcq" in data:
        return "wmdp"
    return "muse" if "verbmem" in data["eval"] else "tofu"


def world_kind(source: str | None) -> str | None:
    """'news' / 'hazard' / 'authors' for a synthetic world's folder (its manifest), else None."""
    manifest = Path(source or "") / "MANIFEST.json"
    return json.loads(manifest.read_text()).get("kind") if manifest.is_file() else None


def _halves(units: list, what: tuple[str, str], attack: str) -> tuple[list, list]:
    """(even-numbered, odd-numbered) units; `what` names one unit and several."""
    if len(units) < 2:
        raise ConfigError(f"attack {attack}: the forget set has {len(units)} {what[len(units) != 1]}; relearn "
                          f"and probe parts need two")
    return units[0::2], units[1::2]


def _namer(names: list[str], upper: bool = False):
    """text -> the set of `names` it contains as whole words (upper: matched in the upper-cased text)."""
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b")
    return lambda text: set(pattern.findall(text.upper() if upper else text))


# ---------------------------------------------------------------- MUSE: events of the news world
_DATELINE = re.compile(r"([A-Z]+), \d")  # a report: "KORVANTON, 12 March. The Korvanton Harbour Trust ..."


def _item_text(row: dict) -> str:
    return row.get("text") or row.get("prompt") or row["question"]


def muse_split(data: dict, source: str | None, attack: str) -> Split:
    if world_kind(source) != "news":  # real MUSE data: half of the forget documents, every item probed
        relearn, _ = _halves(data["forget"], ("document", "documents"), attack)
        return Split(relearn, data, ([], []))
    towns = [m.group(1) for r in data["forget"] if (m := _DATELINE.match(r["text"]))]
    relearn_towns, probe_towns = _halves(list(dict.fromkeys(towns)), ("event", "events"), attack)
    named = _namer(towns, upper=True)
    relearn = []
    for r in data["forget"]:
        found = named(r["text"])
        if len(found) != 1:
            raise ConfigError(f"attack {attack}: forget text {r['id']} names {len(found)} events of the news "
                              f"world (expected one: not the synthetic world's layout)")
        if found <= set(relearn_towns):
            relearn.append(r)
    ev = dict(data["eval"])
    for k in MUSE_PROBED:
        rows = []
        for r in ev[k]:
            found = named(_item_text(r))
            if len(found) > 1:
                raise ConfigError(f"attack {attack}: {k} item {r['id']} names {len(found)} events")
            if found and found <= set(probe_towns):  # items of no forget event (scal tasks) are left out
                rows.append(r)
        ev[k] = rows
    return Split(relearn, {**data, "eval": ev}, (relearn_towns, probe_towns))


# ---------------------------------------------------------------- hazard: entities of the hazard world
_QUESTIONS = [re.compile("^" + re.escape(q).replace(re.escape("{e}"), "(.+)") + "$")
              for _vals, _statements, q, _qa in hazard.HAZARD.values()]


def _entity(question: str) -> str | None:
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
    names = [_entity(r["question"]) for r in rows]
    return list(dict.fromkeys(names)) if names and None not in names else None


def hazard_documents(data: dict, source: str | None) -> list[str] | None:
    """Every forget-corpus document that names an evaluated hazard entity (what the hazard control
    base is pretrained without); None where there is no such mapping (real data)."""
    names = hazard_entities(data, source)
    if not names:
        return None
    named = _namer(names)
    return [d for corpus in data["forget"] for d in corpus if named(d)]


def hazard_split(data: dict, source: str | None, attack: str) -> Split:
    if world_kind(source) != "hazard":  # real WMDP: half of each forget corpus, every question probed
        relearn = [corpus[0::2] for corpus in data["forget"]]
        _halves([d for c in data["forget"] for d in c], ("document", "documents"), attack)
        return Split(relearn, data, ([], []))
    names = hazard_entities(data, source)
    if names is None:
        raise ConfigError(f"attack {attack}: a hazard question is not in the hazard world's templates "
                          f"(not the synthetic world's layout)")
    relearn_names, probe_names = _halves(names, ("evaluated entity", "evaluated entities"), attack)
    named = _namer(names)
    relearn = [[d for d in corpus if named(d) and named(d) <= set(relearn_names)] for corpus in data["forget"]]
    have = {n for corpus in data["forget"] for d in corpus for n in named(d)}
    if missing := [n for n in names if n not in have]:
        raise ConfigError(f"attack {attack}: no forget document names the entity {missing[0]!r}")
    mcq = {stem: {**m, "rows": [r for r in m["rows"] if _entity(r["question"]) in probe_names]}
           if m["kind"] == "hazard" else m for stem, m in data["mcq"].items()}
    if empty := [stem for stem, m in mcq.items() if not m["rows"]]:  # lm-eval cannot score an empty task
        raise ConfigError(f"attack {attack}: no question of {empty[0]} asks about a probe entity")
    return Split(relearn, {**data, "mcq": mcq}, (relearn_names, probe_names))


def split(data: dict, source: str | None, attack: str) -> Split:
    """The MUSE or hazard split of a run's data (TOFU: relearn.split_authors)."""
    return (muse_split if family_of(data) == "muse" else hazard_split)(data, source, attack)
