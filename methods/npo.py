"""Negative Preference Optimization (NPO).

Paper: Zhang, Lin, Bai, Mei (2024) "Negative Preference Optimization: From Catastrophic Collapse to
Effective Unlearning". Loss, with sequence log-probs log pi(y|x) = -NLL_sum against the frozen start
model pi_ref:
    L = -(2/beta) * mean_{D_f} log sigmoid(-beta * [log pi_theta(y|x) - log pi_ref(y|x)])
        + alpha * NLL_mean(D_r)
Bounded below, unlike gradient ascent; as beta -> 0 its gradient is gradient ascent's on NLL_sum.
(A public MUSE baseline uses a logit difference instead: not followed here.)
"""
from dataclasses import dataclass

import torch.nn.functional as F

from harness.distributed import batch_mean
from harness.registry import register_method
from harness.schema import num


@dataclass
class NPOConfig:
    beta: float = num(0.1, gt=0)   # inverse temperature (paper: 0.1)
    alpha: float = num(1.0, ge=0)  # weight of the retain NLL term (0 = NPO without retain term)


def npo_loss(logp, ref_logp, beta: float):
    """-(2/beta) * mean log sigmoid(-beta * (logp - ref_logp)), per-sequence log-probs."""
    return -(2.0 / beta) * batch_mean(F.logsigmoid(-beta * (logp - ref_logp)))


@register_method("npo", config=NPOConfig, needs=("forget", "ref_forget", "retain"), lr=1e-3, epochs=5,
                 lora_lr=2e-3)
def npo(inp, cfg: NPOConfig):
    """NPO: -(2/beta) mean log sigmoid(-beta (log pi - log pi_ref)(forget)) + alpha NLL(retain) [Zhang et al. 2024].

    Paper: Zhang et al. 2024.
    Loss: −(2/β)·mean log σ(−β·(log π_θ − log π_ref)(y_f)) + α·NLL_mean(D_r), sequence log-probs
    """
    forget = npo_loss(inp.forget.seq_logp, inp.ref_forget.seq_logp, cfg.beta)
    retain_nll = batch_mean(inp.retain.nll_mean)
    return forget + cfg.alpha * retain_nll, {"npo": forget.item(), "retain_nll": retain_nll.item()}
