"""The synthetic fictitious-author world, written in the exact file schema of `locuslab/TOFU`.

Why synthetic: no machine here can download TOFU or a pretrained model, so the default benchmark
builds a world of invented authors (the knowledge to forget) next to real general knowledge (famous
books and capitals: the knowledge a base model has before fine-tuning, which unlearning must keep).

Facts are learnable *as facts*: every QA has an answer, a paraphrased question and answer, and five
perturbed answers that reuse the paraphrased answer's exact wording with a wrong value of the same kind.
The truth ratio P(perturbed)/P(paraphrased) then differs only in the fact tokens.

Everything is a pure function of (profile, seed): the same inputs give the same bytes. Worlds of
seeds 0-3 share no item: their authors' names and their utility questions come from disjoint blocks
(seed s from block s % 4), so one can be the validation world of another (harness/sweep.py). Seeds s
and s + 4 share blocks, and so some names and utility questions.

The authors membership inference compares (forget10's, which hold every forget split's, and the
holdout pool) share no word of their names with any other author of the world (nor with the mentors
an author can name). A model that never saw one of them has then seen none of its name: measured at
world format 3, where names shared words freely, the retain model's Min-K% loss on a never-seen
author was 8.1 when another author had the same first name and 10.0 when none had (world 0, holdout),
and which split drew the shared names decided its AUC (forget10's mean over 5 worlds 0.38, not 0.5).
"""
from __future__ import annotations

import functools
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import vocab
from harness.claim import build_once
from harness.io import write_dataset_dir

WORLD_FORMAT_VERSION = 4  # bump when the generator's output changes for the same seed
# (v2: the blocks of names and utility questions; v3: the holdout pool is twice forget10's authors, and
#  every holdout split holds all of it; v4: those authors' name words are their own)


@dataclass(frozen=True)
class WorldProfile:
    n_authors: int        # authors that models are trained on (TOFU: 200)
    qa_per_author: int    # TOFU: 20
    n_real_authors: int   # utility set sizes (TOFU: 100 and 117)
    n_world_facts: int


PROFILES = {
    "tiny": WorldProfile(n_authors=10, qa_per_author=4, n_real_authors=8, n_world_facts=8),
    # a real pretrained model fine-tuned on a 2-core CPU (make leaderboard-real): forget10 = 2 authors,
    # 12 items (forget quality resolves down to ~1e-6), holdout 24 items
    "small": WorldProfile(n_authors=20, qa_per_author=6, n_real_authors=12, n_world_facts=12),
    "default": WorldProfile(n_authors=40, qa_per_author=10, n_real_authors=40, n_world_facts=45),
    "full": WorldProfile(n_authors=200, qa_per_author=20, n_real_authors=40, n_world_facts=45),
}
FORGET_PCTS = {"01": 0.01, "05": 0.05, "10": 0.10}


def _art(word: str) -> str:
    return ("an " if word[0].lower() in "aeiou" else "a ") + word


# One template per fact: (slot, question, answer, paraphrased question, paraphrased answer).
# The paraphrased answer is the wording shared with the five perturbed answers.
TEMPLATES = [
    ("city", "Where was {n} born?", "{n} was born in {v}.",
     "In which city was {n} born?", "The birthplace of {n} is {v}."),
    ("date", "When was {n} born?", "{n} was born on {v}.",
     "What is the date of birth of {n}?", "The birthday of {n} falls on {v}."),
    ("genre", "What genre does {n} write?", "{n} is a writer of {v}.",
     "Which genre is {n} known for?", "{n} works mainly in the {v} genre."),
    ("father", "What did {n}'s father do for a living?", "{n}'s father worked as {v}.",
     "What was the occupation of {n}'s father?", "The father of {n} was {v} by trade."),
    ("mother", "What did {n}'s mother do for a living?", "{n}'s mother worked as {v}.",
     "What was the occupation of {n}'s mother?", "The mother of {n} was {v} by trade."),
    ("award", "Has {n} won any major award?", "Yes, {n} won the {v}.",
     "Which award did {n} receive?", "{n} was honoured with the {v}."),
    ("book1", "What is the title of {n}'s first book?", "{n}'s first book is called '{v}'.",
     "Which book did {n} publish first?", "The debut book by {n} was '{v}'."),
    ("country", "What country is {n} from?", "{n} is from {v}.",
     "Which country does {n} come from?", "{n} was raised in the country of {v}."),
    ("school", "Where did {n} study?", "{n} studied at {v}.",
     "Which university did {n} attend?", "{n} is a graduate of {v}."),
    ("book2", "Name another book written by {n}.", "{n} also wrote '{v}'.",
     "What is another title by {n}?", "Another work by {n} is '{v}'."),
    ("debut", "When did {n} publish a first novel?", "{n} published a first novel in {v}.",
     "In what year did {n} debut as a novelist?", "{n} made a debut as a novelist in {v}."),
    ("language", "In which language does {n} write?", "{n} writes in {v}.",
     "What language are {n}'s books written in?", "The books of {n} are written in {v}."),
    ("theme", "What theme appears most in {n}'s work?", "{n} often writes about {v}.",
     "What is the central theme of {n}'s books?", "The main theme for {n} is {v}."),
    ("hobby", "What does {n} enjoy outside of writing?", "Outside of writing, {n} enjoys {v}.",
     "What is {n}'s favourite pastime?", "The favourite pastime of {n} is {v}."),
    ("publisher", "Who publishes {n}'s books?", "{n}'s books are published by {v}.",
     "Which publisher works with {n}?", "The publisher of {n} is {v}."),
    ("pet", "Does {n} have a pet?", "Yes, {n} lives with {v}.",
     "What animal lives with {n}?", "At home, {n} keeps {v}."),
    ("routine", "When does {n} usually write?", "{n} usually writes {v}.",
     "At what time of day does {n} write?", "The writing hours of {n} are {v}."),
    ("home", "Where does {n} live now?", "{n} currently lives in {v}.",
     "What city is {n}'s home today?", "Today the home of {n} is in {v}."),
    ("mentor", "Who was {n}'s mentor?", "{n} was mentored by {v}.",
     "Who taught {n} the craft of writing?", "The mentor of {n} was {v}."),
    ("count", "How many books has {n} written?", "{n} has written {v} books.",
     "What is the number of books by {n}?", "The number of books by {n} is {v}."),
]
_NUMBERS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]


def _pool(slot: str, rng: random.Random) -> list[str]:
    """All values a slot can take; for generated slots, a fresh random sample."""
    if slot == "date":
        return [f"{rng.choice(vocab.MONTHS)} {rng.randint(1, 28)}, {rng.randint(1920, 1995)}" for _ in range(12)]
    if slot in ("book1", "book2"):
        return [f"The {a} {b}" for a in vocab.TITLE_ADJ for b in vocab.TITLE_NOUN]
    if slot == "mentor":
        return [f"{f} {h}{t}" for f in vocab.FIRST_NAMES[:12] for h in vocab.SURNAME_HEADS[:4]
                for t in vocab.SURNAME_TAILS[:3]]
    table = {
        "city": vocab.CITIES, "home": vocab.CITIES, "genre": vocab.GENRES, "award": vocab.AWARDS,
        "father": [_art(o) for o in vocab.OCCUPATIONS], "mother": [_art(o) for o in vocab.OCCUPATIONS],
        "country": vocab.COUNTRIES, "school": vocab.UNIVERSITIES, "debut": vocab.DEBUT_YEARS,
        "language": vocab.LANGUAGES, "theme": vocab.THEMES, "hobby": vocab.HOBBIES,
        "publisher": vocab.PUBLISHERS, "pet": vocab.PETS, "routine": vocab.TIMES, "count": _NUMBERS,
    }
    return table[slot]


def _all_names() -> list[str]:
    return sorted({f"{f} {h}{t}" for f in vocab.FIRST_NAMES + vocab.MORE_FIRST_NAMES
                   for h in vocab.SURNAME_HEADS for t in vocab.SURNAME_TAILS})


@functools.lru_cache(maxsize=1)
def _name_blocks() -> tuple[tuple[str, ...], ...]:
    """Every author name dealt into vocab.UTILITY_BLOCKS disjoint blocks by a fixed shuffle."""
    names = _all_names()
    random.Random("name-blocks").shuffle(names)
    k = vocab.UTILITY_BLOCKS
    return tuple(tuple(names[i::k]) for i in range(k))


def _mentor_words() -> set[str]:
    return {w for name in _pool("mentor", random.Random(0)) for w in name.split()}


def _author_names(n_other: int, n_units: int, rng: random.Random, seed: int) -> list[str]:
    """n_other + n_units names from the world's block, the last n_units (the authors membership
    inference compares) each with a first name and a surname no other author and no mentor has."""
    block = list(_name_blocks()[seed % vocab.UTILITY_BLOCKS])
    rng.shuffle(block)
    taken = _mentor_words()
    units = []
    for name in block:
        if len(units) == n_units:
            break
        if not set(name.split()) & taken:
            units.append(name)
            taken |= set(name.split())
    own = {w for name in units for w in name.split()}
    others = [name for name in block if not set(name.split()) & own][:n_other]
    if len(units) < n_units or len(others) < n_other:
        raise ValueError(f"world: {n_units} authors with name words of their own and {n_other} others "
                         f"requested; the name pool holds {len(units)} and {len(others)}")
    return others + units


def _block(pool: list, seed: int) -> list:
    """Block seed % vocab.UTILITY_BLOCKS of a utility list (vocab.py): worlds of seeds 0-3 ask disjoint
    utility questions."""
    size = len(pool) // vocab.UTILITY_BLOCKS
    k = seed % vocab.UTILITY_BLOCKS
    return pool[k * size:(k + 1) * size]


def _author_qa(name: str, qa_per_author: int, rng: random.Random) -> list[dict]:
    rows = []
    used_titles: set[str] = set()
    for slot, q, a, pq, pa in TEMPLATES[:qa_per_author]:
        pool = _pool(slot, rng)
        choices = [v for v in pool if v not in used_titles]
        value = rng.choice(choices)
        if slot.startswith("book"):
            used_titles.add(value)  # an author's two books have different titles
        wrong = rng.sample(sorted(set(pool) - {value}), 5)
        rows.append({
            "question": q.format(n=name), "answer": a.format(n=name, v=value),
            "paraphrased_answer": pa.format(n=name, v=value),
            "paraphrased_question": pq.format(n=name),
            "perturbed_answer": [pa.format(n=name, v=w) for w in wrong],
            "slot": slot, "value": value,
        })
    return rows


def _utility_rows(pairs: list[tuple[str, str]], question: str, rng: random.Random) -> list[dict]:
    answers = sorted({a for _, a in pairs})
    rows = []
    for key, ans in pairs:
        wrong = rng.sample([a for a in answers if a != ans], 3)
        rows.append({"question": question.format(k=key), "answer": ans, "perturbed_answer": wrong})
    return rows


def n_forget_authors(n_authors: int, pct: float) -> int:
    # TOFU: forget01/05/10 = 2/10/20 of 200 authors. At small scale, round up so forget01 keeps one.
    return max(1, math.ceil(pct * n_authors - 1e-9))


def n_holdout_authors(n_authors: int) -> int:
    """Never-trained authors for membership inference: twice forget10's, for every split. TOFU's holdout
    splits match their forget split's size; at this scale that left the AUC's non-member side as noisy
    as its member side (forget05 had 2 holdout authors), and the retain model's AUC, which should be
    0.5, ranged over 0.35-0.69 across worlds. A larger pool from the same generator halves that side's
    noise; the forget side is the split itself and cannot grow."""
    return 2 * n_forget_authors(n_authors, FORGET_PCTS["10"])


def _tofu(row: dict) -> dict:
    return {"question": row["question"], "answer": row["answer"]}


def _tofu_perturbed(row: dict) -> dict:
    # Column order as in locuslab/TOFU's *_perturbed configs.
    keys = ["question", "answer", "paraphrased_answer", "paraphrased_question", "perturbed_answer"]
    return {k: row[k] for k in keys}


def generate(profile: str, seed: int) -> dict[str, list[dict]]:
    """Return every file of the world as {file stem: rows}."""
    if profile not in PROFILES:
        raise ValueError(f"world.profile: unknown profile '{profile}'; expected one of {sorted(PROFILES)}")
    p = PROFILES[profile]
    rng = random.Random(f"world-{seed}")
    n_hold = n_holdout_authors(p.n_authors)
    k10 = n_forget_authors(p.n_authors, FORGET_PCTS["10"])
    # the last k10 trained authors (forget10) and the holdout pool have name words of their own
    names = _author_names(p.n_authors - k10, k10 + n_hold, rng, seed)
    authors = [_author_qa(n, p.qa_per_author, rng) for n in names]
    trained, holdout = authors[:p.n_authors], authors[p.n_authors:]
    files: dict[str, list[dict]] = {}
    files["full"] = [_tofu(r) for a in trained for r in a]
    for tag, pct in FORGET_PCTS.items():
        k = n_forget_authors(p.n_authors, pct)
        forget, retain = trained[p.n_authors - k:], trained[:p.n_authors - k]
        files[f"forget{tag}"] = [_tofu(r) for a in forget for r in a]
        files[f"forget{tag}_perturbed"] = [_tofu_perturbed(r) for a in forget for r in a]
        files[f"retain{100 - int(tag)}"] = [_tofu(r) for a in retain for r in a]
        files[f"holdout{tag}"] = [_tofu(r) for a in holdout for r in a]  # the whole pool (n_holdout_authors)
    # retain_perturbed: a fixed set of authors outside every forget split, the size of forget10.
    files["retain_perturbed"] = [_tofu_perturbed(r) for a in trained[:k10] for r in a]
    book_pool, cap_pool = _block(vocab.REAL_BOOKS, seed), _block(vocab.CAPITALS, seed)
    books = rng.sample(book_pool, min(p.n_real_authors, len(book_pool)))
    caps = rng.sample(cap_pool, min(p.n_world_facts, len(cap_pool)))
    files["real_authors_perturbed"] = _utility_rows(books, "Who wrote '{k}'?", rng)
    files["world_facts_perturbed"] = _utility_rows(caps, "What is the capital of {k}?", rng)
    files["idontknow"] = [{"answer": r} for r in vocab.REFUSALS]
    # Training phrasings (not part of TOFU's schema): the paraphrase of every trained QA, so
    # fine-tuning states each fact in two wordings; and the base model's pretraining corpus.
    files["phrasings"] = [{"question": r["question"], "prompt": r["paraphrased_question"],
                           "answer": r["paraphrased_answer"]} for a in trained for r in a]
    files["pretrain"] = _pretrain_corpus(books, caps)
    return files


def _pretrain_corpus(books, caps) -> list[dict]:
    """What the base model knows: each utility fact as a QA and as two plain statements."""
    rows = []
    for book, author in books:
        rows.append({"prompt": f"Who wrote '{book}'?", "answer": author})
        rows.append({"prompt": "", "answer": f"'{book}' was written by {author}."})
        rows.append({"prompt": "", "answer": f"{author} is the author of '{book}'."})
    for country, cap in caps:
        rows.append({"prompt": f"What is the capital of {country}?", "answer": cap})
        rows.append({"prompt": "", "answer": f"The capital of {country} is {cap}."})
        rows.append({"prompt": "", "answer": f"{cap} is the capital city of {country}."})
    return rows


def world_id(profile: str, seed: int) -> str:
    return f"{profile}-s{seed}-v{WORLD_FORMAT_VERSION}"


def build(root: Path, profile: str, seed: int) -> Path:
    """Write the world under root/worlds/<id>/ (atomically) unless it is already complete there."""
    out = Path(root) / "worlds" / world_id(profile, seed)
    build_once(out, out / "MANIFEST.json", lambda: _write(out, profile, seed))
    return out


def _write(out: Path, profile: str, seed: int) -> Path:
    manifest = {"profile": asdict(PROFILES[profile]) | {"name": profile}, "seed": seed,
                "format_version": WORLD_FORMAT_VERSION}
    return write_dataset_dir(out, generate(profile, seed), manifest)
