"""Method losses on tiny tensors, against values computed by hand."""
import math

import pytest
import torch

from methods.idkdpo import dpo_loss
from methods.kl_retain import answer_kl
from methods.loku import LoKUConfig, fila_init, inverted_hinge
from methods.npo import npo_loss
from methods.rmu import control_vector, masked_mse, trainable_params, RMUConfig
from methods.simnpo import simnpo_loss
from harness.tensors import TokenLogProbs


def log_sigmoid(x):
    return -math.log1p(math.exp(-x))


def test_npo_value():
    # logp - ref = -1, beta 0.1: -(2/0.1) * log sigmoid(0.1)
    got = npo_loss(torch.tensor([-2.0]), torch.tensor([-1.0]), 0.1)
    assert got.item() == pytest.approx(-20 * log_sigmoid(0.1), rel=1e-6)


def test_npo_small_beta_matches_gradient_ascent_direction():
    """As beta -> 0, NPO's gradient is gradient ascent's on NLL_sum, i.e. that of L = mean log pi(y|x)."""
    logp = torch.tensor([-3.0, -5.0], requires_grad=True)
    npo_loss(logp, torch.tensor([-3.5, -4.0]), 1e-4).backward()
    g_npo = logp.grad.clone()
    logp.grad = None
    logp.mean().backward()  # gradient ascent: minimise -NLL_sum = log pi
    assert torch.allclose(g_npo, logp.grad, atol=1e-4)
    # at a larger beta the weight on an already-forgotten sequence shrinks (NPO is bounded)
    logp.grad = None
    npo_loss(logp, torch.tensor([-3.0, -1.0]), 1.0).backward()
    assert logp.grad[1] < logp.grad[0]


def test_simnpo_value_and_margin():
    nll = torch.tensor([2.0])
    assert simnpo_loss(nll, 1.0, 0.5).item() == pytest.approx(-2 * log_sigmoid(1.5), rel=1e-6)
    # the margin delta shifts the NLL: L(nll, delta + 1) == L(nll - 1, delta)
    assert simnpo_loss(nll, 2.5, 1.5).item() == pytest.approx(simnpo_loss(nll - 1, 2.5, 0.5).item(), rel=1e-6)
    assert simnpo_loss(nll, 2.5, 1.0).item() > simnpo_loss(nll, 2.5, 0.0).item()


def test_dpo_value():
    # (logp - ref)(win) = 1, (logp - ref)(lose) = -1, beta 1: -2 log sigmoid(2)
    got = dpo_loss(torch.tensor([0.0]), torch.tensor([-1.0]), torch.tensor([-2.0]), torch.tensor([-1.0]), 1.0)
    assert got.item() == pytest.approx(-2 * log_sigmoid(2.0), rel=1e-6)


def _lp(probs, mask):
    logits = torch.log(torch.tensor(probs))
    return TokenLogProbs(torch.zeros(mask.shape), mask, logits)


def test_kl_over_answer_positions_only():
    mask = torch.tensor([[1.0, 0.0]])  # the second position is prompt/padding: must not count
    ref = _lp([[[0.5, 0.5], [0.9, 0.1]]], mask)
    cur = _lp([[[0.25, 0.75], [0.1, 0.9]]], mask)
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert answer_kl(ref, cur).item() == pytest.approx(expected, rel=1e-5)


def test_rmu_pieces():
    h = torch.tensor([[[1.0, 1.0], [3.0, 3.0]]])
    assert masked_mse(h, torch.zeros_like(h), torch.tensor([[1, 0]])).item() == pytest.approx(1.0)
    assert masked_mse(h, torch.zeros_like(h), torch.tensor([[1, 1]])).item() == pytest.approx(5.0)
    u = control_vector(16, 0, torch.zeros(1))
    assert u.norm().item() == pytest.approx(1.0) and (u >= 0).all()
    assert torch.equal(u, control_vector(16, 0, torch.zeros(1)))
    assert trainable_params(RMUConfig(layer=7)) == r"layers\.(5|6|7)\.mlp\.down_proj\.weight$"
    assert trainable_params(RMUConfig(layer=0)) == r"layers\.(0)\.mlp\.down_proj\.weight$"


def test_inverted_hinge_value():
    logits = torch.log(torch.tensor([[[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]]]))
    targets = torch.tensor([[0, 2]])
    mask = torch.tensor([[1.0, 1.0]])
    # token 0: 1 + 0.5 - 0.3 = 1.2; token 2: 1 + 0.2 - 0.5 = 0.7
    assert inverted_hinge(logits, targets, mask).item() == pytest.approx((1.2 + 0.7) / 2, rel=1e-6)


def test_fila_init_keeps_the_model_output():
    from harness import adapters
    from harness.config import AdapterConfig
    from tests.test_methods import data, tiny_model
    model = adapters.apply(tiny_model(), AdapterConfig(kind="lora", rank=4), seed=0)
    x = torch.randint(1, 50, (2, 7))
    before = model(input_ids=x).logits.detach()
    fila_init(model, data(8, 1), data(8, 2), LoKUConfig(fisher_batches=2, fisher_batch_size=4), pad_id=0)
    b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert all(p.abs().sum() > 0 for p in b)  # adapters now start in the forget-relevant subspace
    assert torch.allclose(model(input_ids=x).logits, before, atol=1e-4)


def test_fila_svd_runs_on_one_thread(monkeypatch):
    """LAPACK's SVD gives thread-count-dependent last bits (measured: LoKU's forget10 utility 0.8601887
    with two threads, 0.8601903 with one); the init computes it on one thread and restores the count."""
    from methods import loku
    seen = []
    real = torch.linalg.svd
    monkeypatch.setattr(torch.linalg, "svd", lambda x, **k: (seen.append(torch.get_num_threads()), real(x, **k))[1])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        loku._svd_one_thread(torch.randn(6, 4))
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


# ---- the 2024-2025 baselines: WGA, SatImp, UNDIAL, CE-U, PDU ----

def test_wga_weights_each_token_by_its_own_probability():
    from methods.wga import wga_forget_loss
    lp = torch.log(torch.tensor([[0.5, 0.2, 0.9]]))
    mask = torch.tensor([[1.0, 1.0, 0.0]])  # the third position is not an answer token
    # -(0.5 * ln 2 + 0.2 * ln 5) / 2
    want = -(0.5 * math.log(2) + 0.2 * math.log(5)) / 2
    assert wga_forget_loss(lp, mask, 1.0).item() == pytest.approx(want, rel=1e-6)
    # beta 0: plain token-level gradient ascent, -mean(-log p)
    assert wga_forget_loss(lp, mask, 0.0).item() == pytest.approx(-(math.log(2) + math.log(5)) / 2, rel=1e-6)
    # the weight is a constant: the gradient is p^beta times ascent's
    x = lp.clone().requires_grad_(True)
    wga_forget_loss(x, mask, 1.0).backward()
    assert x.grad[0, :2].tolist() == pytest.approx([0.5 / 2, 0.2 / 2], rel=1e-6)


def test_satimp_weights_by_hand():
    from methods.satimp import satimp_forget_loss, satimp_weights
    lp = torch.log(torch.tensor([[0.5, 0.8]]))
    w = satimp_weights(lp, 5.0, 1.0)
    assert w.tolist()[0] == pytest.approx([0.5 ** 5 * 0.5, 0.8 ** 5 * 0.2], rel=1e-6)
    mask = torch.ones(1, 2)
    want = -(0.5 ** 6 * math.log(2) + 0.8 ** 5 * 0.2 * math.log(1.25)) / 2
    assert satimp_forget_loss(lp, mask, 5.0, 1.0).item() == pytest.approx(want, rel=1e-6)
    assert satimp_weights(torch.tensor([[0.0]]), 5.0, 1.0).item() == 0.0  # p = 1: saturated, no push


def test_undial_target_lowers_the_true_logit_by_beta():
    from methods.undial import soft_ce, undial_targets
    ref = torch.tensor([[[2.0, 0.0, 0.0]]])
    q = undial_targets(ref, torch.tensor([[0]]), 2.0)  # true token 0: logits become (0, 0, 0)
    assert q[0, 0].tolist() == pytest.approx([1 / 3] * 3, rel=1e-6)
    # CE of a uniform target against softmax(1, 0, 0)
    logits = torch.tensor([[[1.0, 0.0, 0.0]]])
    lse = math.log(math.e + 2)
    want = -((1 - lse) + 2 * (0 - lse)) / 3
    assert soft_ce(logits, q, torch.ones(1, 1)).item() == pytest.approx(want, rel=1e-6)


def test_ceu_target_removes_the_true_token():
    from methods.ceu import ceu_targets
    logits = torch.tensor([[[1.0, 0.0, math.log(2.0)]]])  # exp: e, 1, 2; without the first: 1/3, 2/3
    q = ceu_targets(logits, torch.tensor([[0]]))
    assert q[0, 0].tolist() == pytest.approx([0.0, 1 / 3, 2 / 3], rel=1e-6)
    assert not q.requires_grad


def test_pdu_flatness_and_dual_ascent():
    from methods.pdu import dual_update, flatness_loss
    logits = torch.tensor([[[3.0, 0.0, 0.0], [1.0, 1.0, 1.0]]])
    # position 1: max 3 - mean 1 = 2 -> 4; position 2: flat -> 0; mean over 2 answer positions
    assert flatness_loss(logits, torch.ones(1, 2)).item() == pytest.approx(2.0)
    assert flatness_loss(logits, torch.tensor([[0.0, 1.0]])).item() == 0.0
    assert dual_update(1.0, 0.5, 0.1, 0.5) == pytest.approx(1.2)   # violated: lambda grows
    assert dual_update(0.1, 0.0, 0.5, 1.0) == 0.0                  # satisfied: shrinks, never below 0
