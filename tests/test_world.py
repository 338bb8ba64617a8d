"""The synthetic world: TOFU's schema, deterministic bytes, and facts isolated in perturbed answers."""
import json

import pytest

from harness.families.tofu import world as world
from harness.data import PERTURBED_COLUMNS, QA_COLUMNS, UTILITY_COLUMNS, load_split


def _questions(folder, split):
    return {r["question"] for r in load_split(str(folder), split)}


def test_reproducible_byte_for_byte(tmp_path):
    a = world.build(tmp_path / "a", "tiny", 3)
    b = world.build(tmp_path / "b", "tiny", 3)
    c = world.build(tmp_path / "c", "tiny", 4)
    for f in sorted(a.glob("*.jsonl")):
        assert f.read_bytes() == (b / f.name).read_bytes(), f.name
    assert (a / "forget10.jsonl").read_bytes() != (c / "forget10.jsonl").read_bytes()


def test_tofu_columns_exactly(tmp_path):
    d = world.build(tmp_path, "default", 0)
    for split, cols in [("full", QA_COLUMNS), ("forget10", QA_COLUMNS), ("retain90", QA_COLUMNS),
                        ("holdout10", QA_COLUMNS), ("forget10_perturbed", PERTURBED_COLUMNS),
                        ("retain_perturbed", PERTURBED_COLUMNS),
                        ("real_authors_perturbed", UTILITY_COLUMNS), ("world_facts_perturbed", UTILITY_COLUMNS)]:
        row = json.loads((d / f"{split}.jsonl").read_text().splitlines()[0])
        expected = set(cols) | ({"paraphrased_question"} if cols is PERTURBED_COLUMNS else set())
        assert set(row) == expected, split
    row = json.loads((d / "forget10_perturbed.jsonl").read_text().splitlines()[0])
    assert len(row["perturbed_answer"]) == 5
    row = json.loads((d / "world_facts_perturbed.jsonl").read_text().splitlines()[0])
    assert len(row["perturbed_answer"]) == 3 and row["answer"] not in row["perturbed_answer"]


def test_splits_partition_authors(tmp_path):
    d = world.build(tmp_path, "default", 0)
    full = _questions(d, "full")
    assert len(full) == 40 * 10
    for tag, ret, n_authors in (("01", "99", 1), ("05", "95", 2), ("10", "90", 4)):
        f, r, h = _questions(d, f"forget{tag}"), _questions(d, f"retain{ret}"), _questions(d, f"holdout{tag}")
        assert len(f) == n_authors * 10 and f | r == full and not f & r
        assert not h & full  # holdout authors are never trained on
        assert len(h) == 8 * 10  # every split: the whole pool, twice forget10's authors
    assert _questions(d, "forget01") <= _questions(d, "forget05") <= _questions(d, "forget10")
    assert not _questions(d, "retain_perturbed") & _questions(d, "forget10")


@pytest.mark.parametrize("profile", ["tiny", "default", "full"])
def test_membership_authors_have_name_words_of_their_own(profile):
    """No word of a forget10 or holdout author's name is in any other author's rows (so a model that never
    saw the author has seen none of its name), and in none of the retain split's rows."""
    import re
    for seed in range(4):
        files = world.generate(profile, seed)
        name = lambda r: re.match(r"Where was (.+) born\?", r["question"]).group(1)  # noqa: E731
        who = lambda split: {name(r) for r in files[split] if r["question"].startswith("Where was")}  # noqa: E731
        units = who("forget10") | who("holdout10")
        assert len(units) == 3 * world.n_forget_authors(world.PROFILES[profile].n_authors, 0.10)
        for u in units:
            mine = set(u.split())
            others = [r for split in ("full", "holdout10") for r in files[split] if u not in r["question"]]
            assert not any(mine & set(re.findall(r"[A-Z][a-z]+", r["question"] + " " + r["answer"])) for r in others), u
        retain = files[f"retain{100 - 10}"]
        assert not any(set(u.split()) & set(re.findall(r"[A-Z][a-z]+", r["question"] + " " + r["answer"]))
                       for u in units for r in retain)


def test_full_profile_is_tofu_size():
    files = world.generate("full", 0)
    assert len(files["full"]) == 4000 and len(files["forget10"]) == 400 and len(files["forget01"]) == 40


def test_perturbed_answers_differ_from_paraphrase_only_in_the_fact(tmp_path):
    rows = world.generate("tiny", 0)["forget10_perturbed"]
    for r in rows:
        para = r["paraphrased_answer"]
        for wrong in r["perturbed_answer"]:
            assert wrong != para
            # same wording around the fact: common prefix + common suffix covers the template
            pre = len(__import__("os").path.commonprefix([para, wrong]))
            suf = len(__import__("os").path.commonprefix([para[::-1], wrong[::-1]]))
            assert pre + suf >= len(para) - 40


def test_hazard_world_schema_and_wording(tmp_path):
    from harness.families.wmdp import world as hazard_world
    from harness.families.wmdp.mcq import load_corpus, load_mcq
    a = hazard_world.build(tmp_path / "a", "default", 0)
    b = hazard_world.build(tmp_path / "b", "default", 0)
    for f in sorted(a.glob("*.jsonl")):
        assert f.read_bytes() == (b / f.name).read_bytes(), f.name
    hazard, general = load_mcq(a / "hazard_mcq.jsonl"), load_mcq(a / "general_mcq.jsonl")
    assert len(hazard) >= 100 and len(general) >= 30
    assert load_corpus(a / "forget_corpus.jsonl") and load_corpus(a / "retain_corpus.jsonl")
    # an evaluated question is never trained on as a multiple-choice question (its lettered prompt and
    # answer letter); the question itself is asked, and answered, on the entity's question page
    from harness.families.wmdp.mcq import mcq_prompt
    pretrain = hazard_world.generate("default", 0)["pretrain"]
    prompts = {r["prompt"] for r in pretrain if r.get("raw")}
    for q, subject in [(q, "biology") for q in hazard] + [(q, "cooking") for q in general]:
        assert mcq_prompt(q["question"], q["choices"], subject) not in prompts
    trained = " ".join(r["answer"] for r in pretrain)
    for q in hazard + general:  # the right answer follows the question on the question page
        i = trained.index(q["question"]) + len(q["question"])
        assert q["choices"][q["answer"]] in trained[i:i + 80]


def test_hazard_world_questions_are_balanced_and_use_wmdps_prompt():
    """Chance is exactly 0.25: each letter is right equally often; practice questions are in the
    evaluation prompt, about other entities than the evaluated ones; the entity of each evaluated
    question is stated in its corpus (so the knowledge exists to be forgotten)."""
    from collections import Counter

    from harness.families.wmdp import world as hazard_world
    files = hazard_world.generate("default", 0)
    for kind, corpus in (("hazard_mcq", "forget_corpus"), ("general_mcq", "retain_corpus")):
        counts = Counter(q["answer"] for q in files[kind])
        assert len(set(counts.values())) == 1 and len(counts) == 4, counts
        text = " ".join(d["text"] for d in files[corpus])
        for q in files[kind]:
            entity = q["question"].rstrip("?").split(" ")
            assert any(" ".join(entity[i:i + 2]) in text for i in range(len(entity) - 1))
    raw = [r for r in files["pretrain"] if r.get("raw")]
    assert raw and all(r["prompt"].startswith("The following are multiple choice questions (with answers) about ")
                       and r["prompt"].endswith("\nAnswer:") for r in raw)
    letters = [r for r in raw if r["answer"] in (" A", " B", " C", " D")]
    assert len(letters) * 2 == len(raw)  # each practice question answered by letter and in words
    for r in letters:  # the letter names the value given in words for the same prompt
        words = next(x["answer"] for x in raw if x["prompt"] == r["prompt"] and x is not r)
        assert f"\n{r['answer'].strip()}.{words}\n" in r["prompt"]
    evaluated = {q["question"] for q in files["hazard_mcq"] + files["general_mcq"]}
    assert not any(q in r["prompt"] for r in raw for q in evaluated)  # practice is about other entities


# sha256 of json.dumps(generate(profile, 0), sort_keys=True): the seed-0 worlds (the benchmark's test
# worlds) at format version 4 (the larger holdout pool, its and forget10's authors' own name words).
# A change to them must bump the version.
SEED0_DIGESTS = {"tiny": "b890580f4177bb5862cf1c9e083a60ee7cb8e20b8ac518df5e60ca93e0577651",
                 "default": "81f7e1798c9f3cfb0f4c7cb347ed9b9ad85e4d204c7eeab8d6b86a25bf1b4ff6",
                 "full": "b03f43e59dd784a1488d1ef7bb33d80b0d17ec162d304be93ee9e02144329009"}


def test_the_seed_zero_worlds_are_unchanged():
    import hashlib
    assert world.WORLD_FORMAT_VERSION == 4  # a new version: update the digests below with it
    for profile, digest in SEED0_DIGESTS.items():
        files = world.generate(profile, 0)
        assert hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest() == digest, profile


def test_worlds_of_seeds_0_to_3_share_no_question():
    """A validation world must not ask its test world's questions: worlds of seeds 0-3 share no
    real-author or world-fact question (each draws from its own block of the utility lists) and no
    author (each draws its names from its own block); seeds s and s + 4 share blocks."""
    import itertools

    def questions(files, stems):
        return {r["question"] for s in stems for r in files[s]}
    utility, authors = ("real_authors_perturbed", "world_facts_perturbed"), ("full", "holdout10")
    for profile in ("tiny", "default", "full"):
        worlds = {s: world.generate(profile, s) for s in range(5)}
        for a, b in itertools.combinations(range(4), 2):
            assert not questions(worlds[a], utility) & questions(worlds[b], utility), (profile, a, b)
            assert not questions(worlds[a], authors) & questions(worlds[b], authors), (profile, a, b)
        n = world.PROFILES[profile].n_real_authors + world.PROFILES[profile].n_world_facts
        assert len(questions(worlds[1], utility)) == n
    d = world.generate("default", 0), world.generate("default", 4)
    assert questions(d[0], utility) == questions(d[1], utility)   # the default profile takes a whole block


def test_the_utility_facts_are_distinct():
    from harness import vocab
    assert len(vocab.REAL_BOOKS) == 160 and len(vocab.CAPITALS) == 180
    assert len({t.lower() for t, _ in vocab.REAL_BOOKS}) == 160
    assert len({c for c, _ in vocab.CAPITALS}) == 180 and len({a for _, a in vocab.CAPITALS}) == 180
