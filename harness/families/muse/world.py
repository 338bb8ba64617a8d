"""The synthetic news world (MUSE-News-style), offline and deterministic per (profile, seed).

Short local-news articles about fictitious towns, organisations and people, each announcing one
project (who leads the organisation, what it will build, what it costs, when work starts). Articles are
written in the exact file layout of `muse-bench/MUSE-News`: one folder per config, one JSON-lines file
per split, with the public field names:

    raw/       forget, retain1, retain2, holdout          {"text"}
    verbmem/   forget                                     {"prompt", "gt"}
    knowmem/   forget_qa, forget_qa_icl, retain_qa, retain_qa_icl   {"question", "answer"}
    privleak/  forget, retain, holdout                    {"text"}
    scal/      forget_1 .. forget_4   growing: forget_k contains forget_(k-1)
    sust/      forget_1 .. forget_4   pairwise disjoint, for requests applied one after another

As in MUSE, the target model is trained on forget + retain1 + retain2, the retain model on retain1 +
retain2; retain1 is what unlearning methods may use as retain data, retain2 is where utility is
measured (retain_qa) and privleak's `retain` split comes from; holdout articles are never trained on.

What a model of this size can learn decides one design choice, measured in the hazard world: a small
model recalls a fact reliably only after a wording it was trained on. So every article ends with a
"Key facts" box asking its questions in the wording the knowmem questions use (newspapers print such
boxes); knowledge memorisation then tests recall of a fact in a question-answer format the article
never used, and verbatim memorisation tests the article's running text.

pretrain.jsonl (not part of MUSE's schema) is what the base model learns first: general articles of
the same kind about other towns, plus question-answer pairs about them in the knowmem format, so the
base model can read the format before it sees any forget or retain article.
"""
from __future__ import annotations

import random
from pathlib import Path

from harness.claim import build_once
from harness.io import write_dataset_dir
from harness.families.muse.data import knowmem_prompt, qa_block
from harness import vocab

FORMAT_VERSION = 3  # bump when the generator's output changes for the same seed
# (v2: holdout twice forget; v3: the forget and holdout events' people have name words of their own)
# articles per split: forget, retain1, retain2, holdout, general (the base model's corpus). The holdout
# (never trained on: privleak's non-members) is twice the forget split, so that the membership AUC's
# non-member side is not as noisy as its member side (with 16 a side, the retain model's AUC, which
# should be 0.5, ranged over 0.38-0.75 across worlds)
PROFILES = {"tiny": (8, 8, 8, 16, 16), "default": (16, 16, 16, 32, 32)}
N_ICL = 3           # few-shot pairs per knowmem split (MUSE ships 10; prompts here must stay short)
QA_PER_ARTICLE = 2  # knowmem questions asked about each forget / retain2 event (the third: few-shot)

_SYL = ["kor", "van", "bel", "mor", "ast", "rin", "tal", "os", "hel", "dun", "quen", "lor", "sel", "brat"]
_TOWN_ENDS = ["ton", "by", "mere", "holm", "stead", "wick"]
ORG_KINDS = ["Harbour Trust", "Water Board", "Arts Council", "Rail Company", "Health Board",
             "School Board", "Parks Office", "Library Guild"]
PROJECTS = ["concert hall", "footbridge", "railway station", "sea wall", "hospital wing", "library",
            "swimming pool", "wind farm", "market hall", "ferry pier"]
SITES = ["on the old market square", "beside the river", "near the harbour", "on the hill above the town",
         "next to the station", "on the site of the old mill"]
JOBS = [str(n) for n in range(100, 460, 10)]  # above every cost (3-95 million) and day, so never in a report
PLACE_NOUNS = ["Hall", "Gate", "Crossing", "Works", "Yard", "Court"]
ROLES = ["chair", "director", "president", "chief executive"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
REACTIONS = ["welcomed the plan", "called the plan a waste of money", "asked for a public vote",
             "said the town had waited long enough", "warned about the noise of the works"]


def _towns(n: int, rng: random.Random) -> list[str]:
    pool = sorted({(a + b).capitalize() + e for a in _SYL for b in _SYL for e in _TOWN_ENDS if a != b})
    return rng.sample(pool, n)


def _people(n: int, rng: random.Random, half: int) -> list[str]:
    """n distinct names from one half of the name words (first names and surname heads alternate): the
    forget and holdout events' people (half 0) share no name word with the people of the events any
    model trains on besides the forget ones (half 1), so a model that never read an event has seen none
    of its names. With one shared pool, which events happened to reuse a trained name decided the
    retain model's membership AUC (0.55-0.62 over 3 worlds at format 2, not 0.5)."""
    pool = sorted({f"{f} {h}{t}" for f in vocab.FIRST_NAMES[half::2] for h in vocab.SURNAME_HEADS[half::2]
                   for t in vocab.SURNAME_TAILS})
    return rng.sample(pool, n)


# Each sentence after the first has several wordings (drawn per article), so a model that never read an
# article cannot reproduce it from the template alone: verbatim memorisation must be of the article.
COST = ["The new {p} in {t} will cost {c}.", "The bill for the {p} is put at {c}.",
        "Officials expect the {p} to cost {c}.", "Plans for the {p} put its price at {c}."]
DATES = ["Work will begin in {m} and should end in {y}.", ("Builders are due on site in {m}, with the {p} "
                                                           "finished by {y}."),
         "Construction starts in {m}; the {p} should open in {y}.",
         "If all goes well, work starts in {m} and ends in {y}."]
VOICES = ["{x}, a local {j}, {r}.", "Local {j} {x} {r}.", "Asked about the {p}, {x}, a {j} in {t}, {r}."]


def _article(town: str, leader: str, critic: str, designer: str, rng: random.Random) -> dict:
    """One event, reported twice: a news report (the running text) and a short Q&A explainer of three
    facts the report does not state (who designed the project, how many jobs it brings, its name), so
    they must be recalled, not copied from the report. Answers are short, so the ROUGE of a wrong
    guess of the same kind is low."""
    org = f"{town} {rng.choice(ORG_KINDS)}"
    project, site, role = rng.choice(PROJECTS), rng.choice(SITES), rng.choice(ROLES)
    cost = f"{rng.randint(3, 95)} million crowns"
    month, year = rng.choice(vocab.MONTHS), str(rng.randint(2027, 2034))
    job, reaction = rng.choice(vocab.OCCUPATIONS), rng.choice(REACTIONS)
    qa = [(f"Who designed the {project} in {town}?", designer),
          (f"How many jobs will the {project} in {town} bring?", rng.choice(JOBS)),
          (f"What will the {project} in {town} be named?", f"the {rng.choice(vocab.TITLE_ADJ)} {rng.choice(PLACE_NOUNS)}")]
    fill = {"p": project, "t": town, "c": cost, "m": month, "y": year, "x": critic, "j": job, "r": reaction}
    report = (f"{town.upper()}, {rng.randint(1, 28)} {rng.choice(vocab.MONTHS)}. The {org} will build a new "
              f"{project} {site}, its {role} {leader} announced on {rng.choice(DAYS)}. "
              + " ".join(rng.choice(v).format(**fill) for v in (COST, DATES, VOICES)))
    # The explainer asks its questions in the KnowMem format (see the module docstring for why).
    explainer = f"Q&A: the new {project} in {town}\n\n" + "\n\n".join(qa_block(q, a) for q, a in qa)
    return {"report": report, "explainer": explainer, "qa": qa}


def generate(profile: str, seed: int) -> dict[str, list[dict]]:
    """Every file of the world as {'config/split': rows}."""
    if profile not in PROFILES:
        raise ValueError(f"news world: unknown profile '{profile}'; expected one of {sorted(PROFILES)}")
    sizes = PROFILES[profile]
    rng = random.Random(f"news-{seed}")
    n = sum(sizes)
    cut = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    member = [i < cut[1] or cut[3] <= i < cut[4] for i in range(n)]  # forget and holdout: the MIA sides
    towns = _towns(n, rng)
    pools = {True: _people(3 * sum(member), rng, 0), False: _people(3 * (n - sum(member)), rng, 1)}
    arts = []
    for i in range(n):
        people = pools[member[i]]
        arts.append(_article(towns[i], *(people.pop() for _ in range(3)), rng))
    forget, retain1, retain2, holdout, general = (arts[cut[i]:cut[i + 1]] for i in range(len(sizes)))
    texts = lambda arts: [{"text": t} for a in arts for t in (a["report"], a["explainer"])]  # noqa: E731
    reports = lambda arts: [{"text": a["report"]} for a in arts]  # noqa: E731
    files = {"raw/forget": texts(forget), "raw/retain1": texts(retain1), "raw/retain2": texts(retain2),
             "raw/holdout": texts(holdout)}
    files["verbmem/forget"] = [_verbatim(a["report"]) for a in forget]
    for split, arts_ in (("forget", forget), ("retain", retain2)):
        icl = arts_[:N_ICL]  # their few-shot pairs ask a fact the evaluated questions never ask
        files[f"knowmem/{split}_qa_icl"] = [_qa(a["qa"][2]) for a in icl]
        files[f"knowmem/{split}_qa"] = [_qa(qa) for a in arts_ for qa in a["qa"][:QA_PER_ARTICLE]]
    # MUSE's privleak texts are articles: the reports
    files["privleak/forget"], files["privleak/retain"] = reports(forget), reports(retain2)
    files["privleak/holdout"] = reports(holdout)
    quarter = max(1, len(forget) // 4)
    for k in range(1, 5):
        files[f"scal/forget_{k}"] = texts(forget[:quarter * k] if k < 4 else forget)
        files[f"sust/forget_{k}"] = texts(forget[quarter * (k - 1):quarter * k] if k < 4 else forget[quarter * 3:])
    files["pretrain"] = [{"prompt": "", "answer": r["text"]} for r in texts(general)] + _qa_pages(general, rng)
    return files


def _qa_pages(arts: list[dict], rng: random.Random, per_page: int = N_ICL + 1, copies: int = 2) -> list[dict]:
    """Pages of question-answer pairs about the general articles, in the KnowMem prompt format, so the
    base model learns to answer a question after a few answered ones. Every pair appears on `copies`
    pages, each time among different pairs."""
    pairs = [qa for a in arts for qa in a["qa"]]
    pages = []
    for _ in range(copies):
        order = rng.sample(pairs, len(pairs))
        for i in range(0, len(order), per_page):
            shots = [{"question": q, "answer": a} for q, a in order[i:i + per_page]]
            pages.append({"prompt": "", "answer": knowmem_prompt(shots[:-1], shots[-1]["question"])
                          + " " + shots[-1]["answer"]})
    return pages


def _qa(pair: tuple[str, str]) -> dict:
    return {"question": pair[0], "answer": pair[1]}


def _verbatim(body: str) -> dict:
    """MUSE's verbmem rows: the opening of a forget article (dateline and first sentence) as the
    prompt, the rest of its running text as the truth the greedy continuation is compared with."""
    first_end = body.index(". ", body.index(" announced on ")) + 1
    return {"prompt": body[:first_end], "gt": body[first_end:].strip()}


def world_id(profile: str, seed: int) -> str:
    return f"news-{profile}-s{seed}-v{FORMAT_VERSION}"


def build(root: Path, profile: str, seed: int) -> Path:
    """Write the news world under root/worlds/<id>/ once; profiles it does not have (the author
    world's `full`) use its default."""
    profile = profile if profile in PROFILES else "default"
    out = Path(root) / "worlds" / world_id(profile, seed)
    build_once(out, out / "MANIFEST.json", lambda: _write(out, profile, seed))
    return out


def _write(out: Path, profile: str, seed: int) -> Path:
    manifest = {"kind": "news", "profile": profile, "seed": seed, "format_version": FORMAT_VERSION,
                "schema": "muse-bench/MUSE-News: <config>/<split>.jsonl"}
    return write_dataset_dir(out, generate(profile, seed), manifest)
