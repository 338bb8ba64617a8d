"""The robustness score (harness/robustness.py), by hand: recovery is the share of what the method
removed that an attack restores beyond the control's change; robustness the harmonic mean of
1 - recovery under 4-bit quantisation and under 10 relearning steps."""
import json

import pytest

from harness.robustness import NOISE_MULTIPLE, gated_recovery, per_item, recovery, removed_with_se, robustness


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


def _items(values: list[float]) -> list[dict]:
    return [{"set": "forget", "id": f"forget:{i}", "prob": v} for i, v in enumerate(values)]


def test_removed_is_paired_per_item_and_its_standard_error_by_bootstrap():
    """removed = mean over items of sign * (target_i - unlearned_i); its standard error: the bootstrap
    standard deviation of that mean, which for many resamples is the plug-in std / sqrt(n).
    By hand: differences 0.1, 0.3, 0.1, 0.3: mean 0.2, plug-in std 0.1, std / sqrt(4) = 0.05."""
    target = per_item(_items([0.6, 0.7, 0.6, 0.7]), ("forget", "prob"))
    unlearned = per_item(_items([0.5, 0.4, 0.5, 0.4]) + [{"set": "retain", "id": "r", "prob": 0.9}], ("forget", "prob"))
    assert list(unlearned) == ["forget:0", "forget:1", "forget:2", "forget:3"]   # the forget items only
    removed, se, n = removed_with_se(target, unlearned, "lower", 0, seed=0)
    assert (removed, se, n) == (pytest.approx(0.2), pytest.approx(0.05), 4)
    removed, se, _ = removed_with_se(target, unlearned, "lower", 20000, seed=0)
    assert removed == pytest.approx(0.2) and se == pytest.approx(0.05, rel=0.03)
    assert removed_with_se(target, unlearned, "lower", 500, seed=3) == removed_with_se(target, unlearned, "lower",
                                                                                       500, seed=3)   # seeded
    # a "higher is better" forget metric (e.g. a truth ratio): the unlearned model above the target
    assert removed_with_se({"a": 0.4, "b": 0.4}, {"a": 0.7, "b": 0.7}, "higher", 0, 0)[:2] == (pytest.approx(0.3), 0.0)
    assert removed_with_se({"a": 0.4}, {"a": 0.7}, "lower", 100, 0)[1] == float("inf")   # one item: no error


def test_recovery_is_empty_when_what_was_removed_is_within_noise():
    """Recovery divides by what the method removed; within NOISE_MULTIPLE (2) standard errors of zero
    the ratio would be noise, clipped to 0 or 1: empty, with the reason, and so is robustness."""
    assert NOISE_MULTIPLE == 2.0
    # differences 0.3, -0.1, 0.3, -0.1: mean 0.1, plug-in std 0.2, standard error 0.1: 0.1 < 2 x 0.1
    noisy = removed_with_se({f"i{k}": 0.5 for k in range(4)},
                            {"i0": 0.2, "i1": 0.6, "i2": 0.2, "i3": 0.6}, "lower", 0, 0)
    assert noisy[:2] == (pytest.approx(0.1), pytest.approx(0.1))
    rec, note = gated_recovery(0.05, 0.0, 0.5, 0.4, "lower", *noisy[:2])
    assert rec is None and "within 2 standard errors (0.1) of nothing" in note
    assert robustness({("quantize", "4bit"): 0.0, ("relearn", "k10"): rec}) is None
    # differences 0.1, 0.3, 0.1, 0.3: 0.2 >= 2 x 0.05: recovery as recovery() computes it
    rec, note = gated_recovery(0.05, 0.0, 0.6, 0.4, "lower", 0.2, 0.05)
    assert rec == pytest.approx(0.25) and note is None
    assert gated_recovery(0.05, 0.0, 0.6, 0.4, "lower", 0.2, 0.11)[0] is None       # 0.2 < 0.22
    assert gated_recovery(0.05, None, 0.6, 0.4, "lower", 0.2, 0.05) == (None, pytest.approx(
        "no control model: the attack's own effect cannot be told from the method's"))
    assert "no per-item values" in gated_recovery(0.05, 0.0, 0.6, 0.4, "lower", None, None)[1]
    assert "fewer than two" in gated_recovery(0.05, 0.0, 0.6, 0.4, "lower", 0.2, float("inf"))[1]


def test_attack_columns_show_removed_and_the_reasons(tmp_path):
    """The leaderboard's attack columns: recovery and removed per label, robustness only when both
    recoveries are known, and the details (what the page's detail view shows) with the reasons."""
    from harness.leaderboard import attack_columns

    def attack(name, label, m):
        out = tmp_path / "attacks" / name
        (out / label).mkdir(parents=True)
        (out / label / "metrics.json").write_text(json.dumps({"forget_prob": 0.3, "recovery_metric": "forget_prob", **m}))
        (out / "config.yaml").write_text("bits: [4]\n")
        (out / "status.json").write_text(json.dumps({"status": "complete", "labels": [label]}))

    metrics = {"forget_prob": {"headline": True}}
    attack("quantize", "4bit", {"recovery": 0.2, "removed": 0.5, "removed_se": 0.01, "removed_n": 40})
    note = "the method removed 0.01 on the evaluated items, within 2 standard errors (0.02) of nothing"
    attack("relearn", "k10", {"recovery": None, "removed": 0.01, "removed_se": 0.02, "removed_n": 4,
                              "recovery_note": note})
    cols, details = attack_columns(tmp_path, metrics, with_details=True)
    assert cols == {"quantize_4bit_forget_prob": 0.3, "quantize_4bit_recovery": 0.2, "quantize_4bit_removed": 0.5,
                    "relearn_k10_forget_prob": 0.3, "relearn_k10_removed": 0.01}
    assert details["robustness"] is None and details["robustness_note"] == f"relearn k10: no recovery ({note})"
    assert details["attacks"]["relearn"]["labels"]["k10"] == {"recovery": None, "removed": 0.01, "removed_se": 0.02,
                                                              "removed_n": 4, "recovery_note": note}
    assert details["attacks"]["quantize"]["settings"] == {"bits": [4]} and details["attacks"]["quantize"]["default"]
    assert attack_columns(tmp_path, metrics) == cols                      # the columns alone, as before
    assert attack_columns(tmp_path / "none", metrics, with_details=True) == ({}, {})
