"""The run's intervals over items (harness/stats.py): the KS statistic's distribution-free interval,
and the bootstrap intervals of the other numbers, pinned."""
import pytest

from harness import metrics as M
from harness.families.tofu.stats import bootstrap


def _shifted(shift: float, n: int = 20) -> tuple[list[dict], list[float]]:
    """Forget items whose log truth ratios are the retain model's shifted by `shift` (KS = shift / n
    for a shift between whole steps), and small utility sets."""
    ref = [float(i) for i in range(n)]
    recs = [{"set": "forget", "prob": 0.3 + 0.02 * i, "rouge": 0.05 * (i % 7), "log_truth_ratio": x + shift}
            for i, x in enumerate(ref)]
    for k in ("retain", "real_authors", "world_facts"):
        recs += [{"set": k, "prob": 0.5 + 0.01 * i, "rouge": 0.1 * i, "log_truth_ratio": -0.1 * i} for i in range(6)]
    return recs, ref


def test_ks_interval_by_hand():
    """DKW with Massart's constant at alpha/2 per sample: eps_n = sqrt(ln(80) / (2n)) at alpha = 0.05;
    ln 80 = 4.38203, so eps_400 = sqrt(4.38203 / 800) = 0.074010 and eps_100 = 0.148021."""
    from harness.stats import dkw_epsilon, ks_interval
    assert dkw_epsilon(400, 0.025) == pytest.approx(0.074010, abs=1e-6)
    assert dkw_epsilon(100, 0.025) == pytest.approx(0.148021, abs=1e-6)
    assert ks_interval(0.5, 400, 400) == pytest.approx([0.351979, 0.648021], abs=1e-6)
    assert ks_interval(0.1, 100, 400) == pytest.approx([0.0, 0.322031], abs=1e-6)     # clipped at 0
    assert ks_interval(0.95, 100, 400) == pytest.approx([0.727969, 1.0], abs=1e-6)    # clipped at 1
    lo80, hi80 = ks_interval(0.5, 400, 400, alpha=0.2)
    assert 0.351979 < lo80 < 0.5 < hi80 < 0.648021                                    # narrower at 80%


def test_ks_interval_contains_its_estimate_where_resampling_did_not():
    """D = 0.10 on 20 forget items: resampled pairs (with duplicates) gave the percentile interval
    [0.15, 0.35], which excludes it. The interval is now D +- (eps_20 + eps_20), eps_20 = 0.330984."""
    recs, ref = _shifted(1.5)
    d = M.forget_quality([r["log_truth_ratio"] for r in recs if r["set"] == "forget"], ref)["ks_stat"]
    assert d == pytest.approx(0.10)
    lo, hi = bootstrap(recs, ref, 200, seed=0)["ks_stat"]
    assert lo <= d <= hi
    assert [lo, hi] == pytest.approx([0.0, 0.10 + 2 * 0.330984], abs=1e-6)


def test_the_other_intervals_are_the_bootstrap_they_were():
    """The same resamples in the same order as before the KS interval changed: values computed with the
    code that also resampled the KS statistic, pinned."""
    recs, ref = _shifted(1.5)
    got = bootstrap(recs, ref, 200, seed=0)
    assert list(got) == ["model_utility", "ks_stat", "forget_truth_ratio", "forget_rouge", "forget_prob"]
    assert got["model_utility"] == [0.15984146758167045, 0.33585055756006454]
    assert got["forget_truth_ratio"] == [0.0018025493197042183, 0.043711441372737046]
    assert got["forget_rouge"] == [0.1025, 0.1825]
    assert got["forget_prob"] == [0.4409250000000001, 0.5310750000000001]
