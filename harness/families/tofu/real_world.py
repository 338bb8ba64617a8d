"""Utility on real knowledge: short questions about the real world, for a real pretrained model.

The synthetic worlds' utility sets are facts the from-scratch models were pretrained on. A real model
brings its own knowledge, and unlearning can damage it; TOFU measures this with its "real authors" and
"world facts" sets. Here: 40 capitals and 40 book authors (the hand-written tables of harness/vocab.py)
and 40 basic-science questions written below, each with a short answer and, where the answer has other
accepted spellings, those.

What a 4-bit 135M model knows is measured, never assumed: the base model answers every question once
(greedy), and the questions it answers correctly are the set every run of the task is scored on (cached
with the base model's identity, harness/reference.py). A run's `real_world_accuracy` is the fraction of
that kept set it still answers correctly; `real_world_n` says how many questions were kept. An answer
is correct when its normalised text (lower case, punctuation dropped) contains the normalised short
answer or one of its accepted spellings, the check TOFU's authors used informally for "world facts".
"""
from __future__ import annotations

import re

from harness import vocab

# (question, short answer, other accepted answers)
SCIENCE = [
    ("What is the chemical symbol for gold?", "Au", []),
    ("What is the chemical symbol for sodium?", "Na", []),
    ("What is the chemical formula of water?", "H2O", []),
    ("What gas do plants absorb from the air for photosynthesis?", "carbon dioxide", ["CO2"]),
    ("What gas do humans need to breathe in to live?", "oxygen", []),
    ("What is the largest planet in our solar system?", "Jupiter", []),
    ("Which planet is closest to the Sun?", "Mercury", []),
    ("Which planet is known as the Red Planet?", "Mars", []),
    ("What star is at the centre of our solar system?", "the Sun", ["Sun"]),
    ("What is the natural satellite of the Earth called?", "the Moon", ["Moon"]),
    ("At what temperature in degrees Celsius does water freeze?", "0", ["zero"]),
    ("At what temperature in degrees Celsius does water boil at sea level?", "100", ["one hundred"]),
    ("How many legs does an insect have?", "six", ["6"]),
    ("How many legs does a spider have?", "eight", ["8"]),
    ("What organ pumps blood through the human body?", "the heart", ["heart"]),
    ("Which organ do humans use to breathe?", "the lungs", ["lungs", "lung"]),
    ("What is the hardest natural substance?", "diamond", []),
    ("What is the closest star to the Earth?", "the Sun", ["Sun"]),
    ("What force pulls objects towards the Earth?", "gravity", []),
    ("What is the freezing point of water in degrees Fahrenheit?", "32", ["thirty-two"]),
    ("Who proposed the theory of general relativity?", "Albert Einstein", ["Einstein"]),
    ("Who formulated the laws of motion and universal gravitation?", "Isaac Newton", ["Newton"]),
    ("Who proposed the theory of evolution by natural selection?", "Charles Darwin", ["Darwin"]),
    ("What is the largest ocean on Earth?", "the Pacific Ocean", ["Pacific"]),
    ("What is the largest mammal on Earth?", "the blue whale", ["blue whale"]),
    ("What do bees make from nectar?", "honey", []),
    ("What is the main gas in the Earth's atmosphere?", "nitrogen", []),
    ("What is the centre of an atom called?", "the nucleus", ["nucleus"]),
    ("What particle has a negative electric charge?", "the electron", ["electron"]),
    ("How many days does the Earth take to orbit the Sun?", "365", ["three hundred sixty-five"]),
    ("How many hours are there in a day?", "24", ["twenty-four"]),
    ("How many continents are there on Earth?", "seven", ["7"]),
    ("What is the tallest mountain on Earth?", "Mount Everest", ["Everest"]),
    ("What is the longest river in Africa?", "the Nile", ["Nile"]),
    ("What is the square root of 81?", "9", ["nine"]),
    ("What is 7 multiplied by 8?", "56", ["fifty-six"]),
    ("What is 12 plus 15?", "27", ["twenty-seven"]),
    ("How many sides does a triangle have?", "three", ["3"]),
    ("How many sides does a hexagon have?", "six", ["6"]),
    ("What colour do you get by mixing blue and yellow?", "green", []),
]
N_CAPITALS, N_BOOKS = 40, 40


def questions() -> list[dict]:
    """Every question with an id, its short answer and the accepted spellings (fixed order)."""
    rows = [{"id": f"capital-{i}", "question": f"What is the capital of {country}?", "answer": cap,
             "accepted": [cap]} for i, (country, cap) in enumerate(vocab.CAPITALS[:N_CAPITALS])]
    rows += [{"id": f"book-{i}", "question": f"Who wrote '{book}'?", "answer": author,
              "accepted": [author, author.split()[-1]]}
             for i, (book, author) in enumerate(vocab.REAL_BOOKS[:N_BOOKS])]
    rows += [{"id": f"science-{i}", "question": q, "answer": a, "accepted": [a, *alt]}
             for i, (q, a, alt) in enumerate(SCIENCE)]
    return rows


# Replay for a real base model: its own first-sentence answers to real-world questions that neither
# this set (block 0 of harness/vocab.py's capitals and books) nor the worlds of seeds 0 and 1 (blocks 0
# and 1) ask, mixed into the target's and retain model's fine-tuning. Measured (SmolLM2-135M, small
# world, LoRA rank 16, lr 1e-3): without it, two epochs on the fictitious authors took the base's
# correct real-world answers from 65 to 37 ("The capital of India is Port Alder"): the fine-tuned
# model answers every "where" with a memorised city. It is self-distillation, so it keeps what the base
# said, right or wrong, never teaches an answer, and never sees an evaluated question.
N_REPLAY = 64


def replay_questions(n: int = N_REPLAY) -> list[str]:
    pool = ([f"What is the capital of {c}?" for c, _ in vocab.CAPITALS[len(vocab.CAPITALS) // 2:]]
            + [f"Who wrote '{b}'?" for b, _ in vocab.REAL_BOOKS[len(vocab.REAL_BOOKS) // 2:]])
    import random
    return random.Random(0).sample(pool, n)


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z ]+", " ", text.lower()).split())


def correct(generation: str, accepted: list[str]) -> bool:
    """The generation contains one accepted answer as whole words (normalised)."""
    g = f" {normalise(generation)} "
    return any(f" {normalise(a)} " in g for a in accepted if normalise(a))


def score(model, fmt, rows: list[dict], cfg, pad_id: int, progress: bool = False) -> tuple[list[dict], int]:
    """(per-question records with the greedy generation and whether it is correct, tokens processed)."""
    from harness.evaluate import generate
    gens, tokens = generate(model, fmt, [r["question"] for r in rows], cfg, pad_id, progress)
    return [{"set": "real_world", "id": r["id"], "question": r["question"], "answer": r["answer"],
             "generation": g, "correct": correct(g, r["accepted"])} for r, g in zip(rows, gens)], tokens
