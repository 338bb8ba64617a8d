"""The real-world utility set of a pretrained model (harness/families/tofu/real_world.py): its scoring
rule by hand, its questions fixed and disjoint from the replay questions, and its interval."""
import numpy as np
import pytest

from harness.families.tofu import real_world as RW
from harness.stats import mean_interval


@pytest.mark.parametrize("generation,accepted,expected", [
    ("The capital of France is Paris.", ["Paris"], True),
    ("PARIS!", ["Paris"], True),
    ("Parisian food is good.", ["Paris"], False),              # whole words only
    ("It was written by Jane Austen in 1813.", ["Jane Austen", "Austen"], True),
    ("Austen wrote it.", ["Jane Austen", "Austen"], True),      # the surname is accepted
    ("Twenty-seven.", ["27", "twenty-seven"], True),            # punctuation normalised to spaces
    ("I do not know.", ["Paris"], False),
    ("anything", ["", "!!"], False),                            # an empty accepted spelling never matches
])
def test_an_answer_is_correct_when_it_holds_an_accepted_spelling(generation, accepted, expected):
    assert RW.correct(generation, accepted) is expected


def test_the_questions_are_fixed_and_never_replayed():
    qs = RW.questions()
    assert len(qs) == 120 and len({q["id"] for q in qs}) == 120
    assert sum(q["id"].startswith("capital-") for q in qs) == 40 and sum(q["id"].startswith("book-") for q in qs) == 40
    replay = RW.replay_questions()
    assert len(replay) == RW.N_REPLAY == len(set(replay))
    assert not set(replay) & {q["question"] for q in qs}
    assert replay == RW.replay_questions()                      # the same draw every time


def test_the_accuracy_interval_is_the_bootstrap_of_the_mean():
    """real_world_accuracy_ci is mean_interval of the 0/1 correctness (seeded by the run's seed): 13 of 20
    correct gives 0.65 inside its interval, which is narrower than the range of possible values."""
    v = [1.0] * 13 + [0.0] * 7
    lo, hi = mean_interval(v, 2000, np.random.default_rng(0))
    assert lo < 0.65 < hi and 0.3 < lo and hi < 0.95
    # the normal-approximation half-width sqrt(p(1-p)/n) * 1.96 = 0.209: the percentile interval is close
    assert (hi - lo) / 2 == pytest.approx(1.96 * (0.65 * 0.35 / 20) ** 0.5, abs=0.03)
    assert mean_interval(v, 2000, np.random.default_rng(0)) == [lo, hi]
