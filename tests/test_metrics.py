"""Every TOFU formula against values computed by hand."""
import math

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
    assert M.truth_ratio(1.0, [2.0, 3.0]) == pytest.approx(math.exp(-1.5))
    # equal likelihoods -> R = 1
    assert M.truth_ratio(0.7, [0.7, 0.7, 0.7]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        M.truth_ratio(1.0, [])


def test_truth_ratio_aggregations():
    # forget: mean(min(R, 1/R)) of [0.5, 2, 1] = (0.5 + 0.5 + 1) / 3
    assert M.forget_truth_ratio_stat([0.5, 2.0, 1.0]) == pytest.approx(2 / 3)
    # utility: mean(max(0, 1 - R)) of [0.5, 2, 0.25] = (0.5 + 0 + 0.75) / 3
    assert M.utility_truth_ratio_stat([0.5, 2.0, 0.25]) == pytest.approx(1.25 / 3)


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
