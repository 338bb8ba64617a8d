"""The robustness score (harness/robustness.py), by hand: recovery is the share of what the method
removed that an attack restores beyond the control's change; robustness the harmonic mean of
1 - recovery under 4-bit quantisation and under 10 relearning steps."""
import pytest

from harness.robustness import recovery, robustness


def test_recovery_by_hand():
    # forget_prob (lower is better): the target had 0.6, the method brought it to 0.1; the attack adds
    # 0.2 to it and 0.05 to the control: (0.2 - 0.05) / (0.6 - 0.1) = 0.3
    assert recovery(0.2, 0.05, 0.6, 0.1, "lower") == pytest.approx(0.3)
    # a "higher is better" forget metric: target 0.4, unlearned 0.7, the attack moves it by -0.1 and the
    # control by 0: (0.1) / (0.3)
    assert recovery(-0.1, 0.0, 0.4, 0.7, "higher") == pytest.approx(1 / 3)
    assert recovery(1.0, 0.0, 0.6, 0.1, "lower") == 1.0        # past the target: clipped
    assert recovery(-0.3, 0.0, 0.6, 0.1, "lower") == 0.0       # forgets more under attack: 0
    assert recovery(0.02, 0.05, 0.6, 0.1, "lower") == 0.0      # less than the control gains: 0


def test_recovery_is_undefined_without_something_removed_or_a_control():
    assert recovery(0.2, 0.0, 0.1, 0.1, "lower") is None       # the method removed nothing
    assert recovery(0.2, 0.0, 0.1, 0.3, "lower") is None       # it added knowledge
    assert recovery(0.2, None, 0.6, 0.1, "lower") is None      # no control model
    assert recovery(0.2, 0.0, 0.6, 0.1, "zero") is None        # no direction of knowledge


def test_robustness_is_the_harmonic_mean_of_the_two_stabilities():
    score = robustness({("quantize", "4bit"): 0.3, ("relearn", "k10"): 0.5})
    assert score == pytest.approx(2 * 0.7 * 0.5 / (0.7 + 0.5))   # 0.5833
    assert robustness({("quantize", "4bit"): 0.0, ("relearn", "k10"): 0.0}) == 1.0
    assert robustness({("quantize", "4bit"): 0.0, ("relearn", "k10"): 1.0}) == 0.0   # one attack undoes it
    assert robustness({("quantize", "4bit"): 1.0, ("relearn", "k10"): 1.0}) == 0.0
    assert robustness({("quantize", "4bit"): 0.2}) is None
    assert robustness({("quantize", "4bit"): 0.2, ("relearn", "k10"): None}) is None


def test_a_complete_attack_covers_a_shorter_request():
    """The grid's short relearning curve is skipped when the whole curve is there; a longer one is not."""
    from harness.attack_run import covers
    full = {"steps": [0, 5, 10, 20, 40], "lr": 0.001, "batch_size": 4, "items_per_author": 0}
    assert covers(full, {**full, "steps": [0, 10]})
    assert not covers({**full, "steps": [0, 10]}, full)
    assert not covers(full, {**full, "lr": 0.01})
    assert covers({"bits": [8, 4], "library": "auto"}, {"bits": [4], "library": "auto"})
    assert not covers({"bits": [4], "library": "auto"}, {"bits": [4], "library": "quanto"})
