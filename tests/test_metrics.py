"""Every TOFU formula against values computed by hand."""
import math

import numpy as np
import pytest
import torch

from harness import metrics as M
from harness.prompts import Encoded
from harness.tensors import answer_logprobs, collate


def test_length_normalised_prob():
    assert M.length_normalised_prob(math.log(4)) == pytest.approx(0.25)


def test_normalised_option_prob():
    # P~ right 0.5, wrong 0.25 and 0.25 -> 0.5 / (0.5 + 0.5)
    assert M.normalised_option_prob(-math.log(0.5), [-math.log(0.25)] * 2) == pytest.approx(0.5)
    # P~ right 0.6, wrong 0.2 -> 0.75
    assert M.normalised_option_prob(-math.log(0.6), [-math.log(0.2)]) == pytest.approx(0.75)


def test_truth_ratio_is_geometric_mean_over_wrong_answers():
    # wrong NLL_means 2 and 3 -> P~_wrong = exp(-2.5); right NLL_mean 1 -> R = exp(1 - 2.5)
    assert M.log_truth_ratio(1.0, [2.0, 3.0]) == pytest.approx(-1.5)
    assert M.truth_ratio(1.0, [2.0, 3.0]) == pytest.approx(math.exp(-1.5))
    # equal likelihoods -> R = 1
    assert M.truth_ratio(0.7, [0.7, 0.7, 0.7]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        M.truth_ratio(1.0, [])


def test_truth_ratio_aggregations():
    # forget: mean(min(R, 1/R)) of R = [0.5, 2, 1] = (0.5 + 0.5 + 1) / 3
    logs = [math.log(0.5), math.log(2.0), 0.0]
    assert M.forget_truth_ratio_stat(logs) == pytest.approx(2 / 3)
    # utility: mean(max(0, 1 - R)) of R = [0.5, 2, 0.25] = (0.5 + 0 + 0.75) / 3
    assert M.utility_truth_ratio_stat([math.log(0.5), math.log(2.0), math.log(0.25)]) == pytest.approx(1.25 / 3)


def test_collapsed_model_gets_extreme_numbers_not_errors():
    """NLLs of a collapsed model: R = exp(1000) overflows a float, exp(-1000) underflows to 0, and
    every option probability underflows. In log space every number is still defined."""
    assert M.log_truth_ratio(1001.0, [1.0]) == pytest.approx(1000.0)
    assert M.truth_ratio(1001.0, [1.0]) is None and M.truth_ratio(1.0, [1001.0]) is None
    # min(R, 1/R) = exp(-1000) ~ 0; max(0, 1 - R) = 0 for R huge, 1 - exp(-1000) ~ 1 for R tiny
    assert M.forget_truth_ratio_stat([1000.0, -1000.0]) == 0.0
    assert M.utility_truth_ratio_stat([1000.0]) == 0.0 and M.utility_truth_ratio_stat([-1000.0]) == 1.0
    # every P~ = exp(-2000) underflows; the softmax over options is still 1/2 for equal NLLs ...
    assert M.normalised_option_prob(2000.0, [2000.0]) == pytest.approx(0.5)
    # ... and e^-1 / (e^-1 + e^-0) style ratios hold at any offset: NLLs 2001 vs 2000 -> 1 / (1 + e)
    assert M.normalised_option_prob(2001.0, [2000.0]) == pytest.approx(1 / (1 + math.e))
    # KS on log ratios = KS on ratios (it depends on order only): disjoint samples, D = 1
    fq = M.forget_quality([900.0, 950.0, 1000.0], [-1.0, 0.0, 1.0])
    assert fq["ks_stat"] == 1.0 and 0 < fq["forget_quality"] < 1
    assert M.length_normalised_prob(5000.0) == 0.0


def test_rouge_l_recall():
    # LCS of 3 tokens over a 6-token reference
    assert M.rouge_l_recall("the cat sat", "the cat sat on the mat") == pytest.approx(0.5)
    assert M.rouge_l_recall("the cat sat on the mat", "the cat sat") == pytest.approx(1.0)
    assert M.rouge_l_recall("", "the cat") == 0.0
    # stemming on: "sitting"/"sits" share no stem with "sat", "cats" -> "cat"
    assert M.rouge_l_recall("cats", "cat") == pytest.approx(1.0)


def test_forget_quality_ks():
    same = M.forget_quality([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    assert same["forget_quality"] == pytest.approx(1.0) and same["ks_stat"] == 0.0
    # two disjoint samples of 5: D = 1, exact two-sided p = 2 / C(10, 5) = 2 / 252
    apart = M.forget_quality([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert apart["ks_stat"] == 1.0
    assert apart["forget_quality"] == pytest.approx(2 / 252)
    assert apart["ks_n"] == 5 and apart["ks_n_retain"] == 5
    with pytest.raises(ValueError, match="retain model"):
        M.forget_quality([0.1], [])


def test_model_utility_harmonic_mean():
    vals = {k: 1.0 for k in M.UTILITY_PARTS}
    vals["world_facts_truth_ratio"] = 0.5
    assert M.model_utility(vals) == pytest.approx(9 / (8 + 2))  # 9 / (8/1 + 1/0.5)
    vals["retain_rouge"] = 0.0
    assert M.model_utility(vals) == 0.0
    del vals["retain_rouge"]
    with pytest.raises(ValueError, match="missing"):
        M.model_utility(vals)


class FixedLogits(torch.nn.Module):
    """A 'model' whose next-token distribution is the same known table at every position."""

    def __init__(self, probs):
        super().__init__()
        self.w = torch.nn.Parameter(torch.log(torch.tensor(probs)))

    def forward(self, input_ids, attention_mask=None):
        logits = self.w.expand(input_ids.shape[0], input_ids.shape[1], -1)
        return type("Out", (), {"logits": logits})()


def test_answer_logprobs_score_only_answer_tokens():
    model = FixedLogits([0.5, 0.25, 0.125, 0.125])
    # prompt [0, 1], answer [2, 3]; second item shorter (padding with id 0 must be ignored)
    batch = collate([Encoded([0, 1], [2, 3]), Encoded([1], [1])], pad_id=0)
    lp = answer_logprobs(model, batch)
    assert lp.lengths.tolist() == [2, 1]
    # item 0: log(0.125) + log(0.125); item 1: log(0.25)
    assert lp.seq_logp.tolist() == pytest.approx([2 * math.log(0.125), math.log(0.25)])
    assert lp.nll_mean.tolist() == pytest.approx([-math.log(0.125), -math.log(0.25)])


def test_exact_memorization_and_extraction_strength():
    assert M.exact_memorization([True, False, True, True]) == pytest.approx(0.75)
    # k* = 2 (positions 2 and 3 match, position 1 does not): 1 - 2/4
    assert M.extraction_strength([True, False, True, True]) == pytest.approx(0.5)
    assert M.extraction_strength([True, True, True]) == 1.0   # k* = 0
    assert M.extraction_strength([True, True, False]) == 0.0  # the last token misses: k* = |y|
    with pytest.raises(ValueError):
        M.exact_memorization([])


def test_min_k_and_mia_scores():
    lp = [-0.1, -2.0, -0.5, -4.0, -1.0]
    # ceil(0.4 * 5) = 2 lowest: -4 and -2
    assert M.min_k_mean(lp, 0.4) == pytest.approx(-3.0)
    assert M.min_k_mean([-1.0], 0.4) == -1.0  # at least one token
    z = [1.0, -1.0, 0.5, -3.0, 0.0]
    s = M.mia_scores(lp, z, "abc", k=0.4)
    nll = 7.6 / 5
    import zlib
    assert s["loss"] == pytest.approx(nll)
    assert s["zlib"] == pytest.approx(nll / len(zlib.compress(b"abc")))
    assert s["min_k"] == pytest.approx(3.0)      # loss-like orientation: minus the mean
    assert s["min_k_pp"] == pytest.approx(2.0)   # lowest two z: -3, -1


def test_mia_auc_orientation_and_privleak():
    # memorised members have LOW loss-like scores: AUC 0; unseen members: 0.5 on ties
    assert M.mia_auc([0.1, 0.2], [1.0, 2.0]) == 0.0
    assert M.mia_auc([1.0, 2.0], [0.1, 0.2]) == 1.0
    assert M.mia_auc([1.0, 1.0], [1.0, 1.0]) == 0.5
    assert M.privleak(0.0, 0.5) == -100.0
    assert M.privleak(0.5, 0.5) == 0.0
    assert M.privleak(0.6, 0.5) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="holdout"):
        M.mia_auc([0.1], [])


def test_cost_record_flops():
    from harness.cost import cost_record
    c = {"flops_forward": 4000, "flops_backward": 3000, "eval_flops": 500, "unlearn_s": 2.0, "eval_s": 1.0}
    out = cost_record(c, {"retrain_s": 20.0, "retrain_flops": 70000, "retrain_device": "cpu"}, torch.device("cpu"))
    assert out["unlearn_flops"] == 7000 and out["eval_flops"] == 500 and out["flops"] == 7500
    assert out["cost_vs_retrain"] == pytest.approx(0.1) and out["time_vs_retrain"] == pytest.approx(0.1)
    assert out["gpu_seconds"] == 0 and out["device_type"] == "cpu"
    assert cost_record(c, None, torch.device("cpu"))["cost_vs_retrain"] is None


def test_bootstrap_intervals_are_reproducible_and_cover_the_estimate():
    from harness.families.tofu.stats import bootstrap
    recs = []
    for kind in ("forget", "retain", "real_authors", "world_facts"):
        for i in range(8):
            recs.append({"set": kind, "prob": 0.5 + 0.05 * i, "rouge": 0.1 * i,
                         "log_truth_ratio": math.log(0.3 + 0.1 * i)})
    ref = [math.log(0.9 - 0.05 * i) for i in range(8)]
    a = bootstrap(recs, ref, 200, seed=0)
    assert a == bootstrap(recs, ref, 200, seed=0)
    assert a["forget_rouge"][0] <= 0.35 <= a["forget_rouge"][1]  # the mean rouge 0.1 * 3.5
    # an interval for the KS statistic (an effect size), none for the p-value
    ks = M.forget_quality([r["log_truth_ratio"] for r in recs if r["set"] == "forget"], ref)["ks_stat"]
    assert "forget_quality" not in a and 0 <= a["ks_stat"][0] <= ks <= a["ks_stat"][1] <= 1
    assert bootstrap(recs, ref, 0, seed=0) == {}
    with pytest.raises(ValueError, match="aligned"):
        bootstrap(recs, ref[:-1], 10, seed=0)


def test_ks_statistic_equals_scipys_including_ties():
    rng = np.random.default_rng(0)
    for n, m in [(10, 10), (40, 40), (7, 13)]:
        for _ in range(50):
            a = np.round(rng.normal(size=n), 1)  # rounding makes ties within and across samples
            b = np.round(rng.normal(0.3, 1.2, size=m), 1)
            assert M.ks_statistic(a, b) == M.forget_quality(list(a), list(b))["ks_stat"]
    assert M.ks_statistic([0.0, 1.0], [2.0, 3.0]) == 1.0  # disjoint samples: hand value
    assert M.ks_statistic([0.0, 2.0], [1.0, 3.0]) == 0.5


def test_bootstrap_equals_the_metric_functions_on_each_resample():
    """The fast resampling loop gives exactly what the metric functions give on each drawn sample."""
    from harness.families.tofu.stats import bootstrap
    from harness.stats import ks_interval
    rng = np.random.default_rng(1)
    recs = [{"set": kind, "prob": float(rng.uniform(0.05, 1)), "rouge": float(rng.uniform()),
             "log_truth_ratio": float(rng.normal())}
            for kind, n in [("forget", 9), ("retain", 11), ("real_authors", 5), ("world_facts", 6)] for _ in range(n)]
    ref = list(rng.normal(0.5, 1, size=9))
    got = bootstrap(recs, ref, 50, seed=3)
    by = {k: [r for r in recs if r["set"] == k] for k in ("forget", "retain", "real_authors", "world_facts")}
    draw = np.random.default_rng(3)
    want = {k: [] for k in got}
    for _ in range(50):
        flat = {}
        for k, rs in by.items():
            idx = draw.integers(0, len(rs), len(rs))
            logs = [rs[i]["log_truth_ratio"] for i in idx]
            flat[f"{k}_prob"] = np.mean([rs[i]["prob"] for i in idx])
            flat[f"{k}_rouge"] = np.mean([rs[i]["rouge"] for i in idx])
            flat[f"{k}_truth_ratio"] = (M.forget_truth_ratio_stat if k == "forget" else M.utility_truth_ratio_stat)(logs)
        fidx = draw.integers(0, 9, 9)
        logs = [by["forget"][i]["log_truth_ratio"] for i in fidx]
        want["model_utility"].append(M.model_utility(flat))
        want["forget_truth_ratio"].append(M.forget_truth_ratio_stat(logs))
        want["forget_rouge"].append(np.mean([by["forget"][i]["rouge"] for i in fidx]))
        want["forget_prob"].append(np.mean([by["forget"][i]["prob"] for i in fidx]))
    for m, v in want.items():
        if m != "ks_stat":
            assert got[m] == [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))], m
    # the KS statistic's interval is not resampled: DKW around the statistic of all forget items
    d = M.forget_quality([r["log_truth_ratio"] for r in by["forget"]], ref)["ks_stat"]
    assert got["ks_stat"] == ks_interval(d, 9, 9) and got["ks_stat"][0] <= d <= got["ks_stat"][1]


def test_harmonic_mean_is_scipys_hmean_bit_for_bit():
    from scipy import stats as S
    rng = np.random.default_rng(2)
    for _ in range(2000):
        x = rng.uniform(1e-3, 1.0, size=9)
        assert M.harmonic_mean(x) == float(S.hmean(x))
    assert M.harmonic_mean(np.array([0.5, 0.0, 0.9])) == 0.0
    assert M.harmonic_mean(np.array([0.5, 0.25])) == 1 / 3  # 2 / (2 + 4), by hand


def test_the_shared_membership_part_by_hand():
    """harness/metric_parts.py, used by every family with forget texts: forget scores 1 and 3 against
    holdout scores 2 and 4 are above in 1 of 4 pairs (AUC 0.25); with the retain model's Min-K% AUC 0.5,
    privleak = (0.25 - 0.5) / 0.5 x 100 = -50. Missing reference AUCs fail loudly."""
    from harness import metric_parts as MP
    attacks = ("loss", "zlib", "min_k", "min_k_pp")
    forget = [{a: v for a in attacks} for v in (1.0, 3.0)]
    holdout = [{a: v for a in attacks} for v in (2.0, 4.0)]
    got = MP.membership(forget, holdout, {a: 0.5 for a in attacks})
    assert got["mia_auc_min_k"] == 0.25 and got["retain_model_mia_auc_loss"] == 0.5
    assert got["privleak"] == pytest.approx(-50.0)
    # a retain model whose AUC is 0: the ratio is undefined (missing), the difference is (0.25 - 0) x 100
    zero = MP.membership(forget, holdout, {a: 0.0 for a in attacks})
    assert zero["privleak"] is None and zero["privleak_diff"] == pytest.approx(25.0)
    with pytest.raises(RuntimeError, match="retain model's membership-inference AUCs"):
        MP.membership(forget, holdout, None)
    recs = [{"exact_memorization": 1.0, "extraction_strength": 0.5}, {"exact_memorization": 0.0, "extraction_strength": 0.0}]
    assert MP.memorisation(recs) == {"exact_memorization": 0.5, "extraction_strength": 0.25}
    declared = {**MP.membership_metrics(), **MP.memorisation_metrics()}
    assert declared["privleak"].direction == "zero" and declared["mia_auc_zlib"].reference == "retain_model_mia_auc_zlib"


def test_privleak_diff_by_hand_and_its_bound():
    """AUC 0.56 against the retain model's 0.06: privleak (0.56 - 0.06) / 0.06 x 100 = +833.3, the
    difference x 100 = +50; at the extremes the difference stays within [-100, 100]."""
    from harness import metric_parts as MP
    from harness import metrics as M
    assert M.privleak(0.56, 0.06) == pytest.approx(833.333, abs=1e-3)
    assert M.privleak_diff(0.56, 0.06) == pytest.approx(50.0)
    assert M.privleak_diff(0.0, 1.0) == -100.0 and M.privleak_diff(1.0, 0.0) == 100.0
    got = MP.from_aucs({a: 0.25 for a in M.MIA_ATTACKS}, {a: 0.5 for a in M.MIA_ATTACKS})
    assert got["privleak_diff"] == pytest.approx(-25.0) and got["privleak"] == pytest.approx(-50.0)
