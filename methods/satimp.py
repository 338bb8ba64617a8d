"""SatImp: token reweighting by saturation and importance.

Paper: Yang, Wang, Huang, Liu, Han (2025) "Exploring Criteria of Loss Reweighting to Enhance LLM
Unlearning" (ICML 2025). Each forget token's ascent is weighted by sg(p_t^beta1 * (1 - p_t)^beta2):
p_t^beta1 favours tokens the model still knows well (importance), (1 - p_t)^beta2 stops pushing on
tokens that are already saturated at certainty, where ascent gains little and destabilises:
    L_f = -mean_t [ sg(p_t^beta1 * (1 - p_t)^beta2) * l_t ],   l_t = -log p_t
    L   = gamma * L_f + alpha * NLL_mean(D_r)        (paper: beta1 = 5, beta2 = 1, alpha = 0.1)
"""
from dataclasses import dataclass

import torch

from harness.distributed import batch_mean
from harness.registry import register_method
from harness.schema import num


@dataclass
class SatImpConfig:
    beta1: float = num(5.0, ge=0)  # importance exponent on p_t
    beta2: float = num(1.0, ge=0)  # saturation exponent on 1 - p_t
    gamma: float = num(1.0, ge=0)  # weight of the forget term
    alpha: float = num(0.1, ge=0)  # weight of the retain NLL term


def satimp_weights(token_logps, beta1: float, beta2: float):
    """sg(p^beta1 (1 - p)^beta2), computed from log p (1 - p = -expm1(log p), exact near p = 1)."""
    lp = token_logps.detach()
    return (beta1 * lp).exp() * (-torch.expm1(lp)).clamp(min=0).pow(beta2)


def satimp_forget_loss(token_logps, mask, beta1: float, beta2: float):
    w = satimp_weights(token_logps, beta1, beta2)
    return -batch_mean(w * -token_logps, mask)


@register_method("satimp", config=SatImpConfig, needs=("forget", "retain"), lr=3e-3, epochs=5, lora_lr=1e-2)
def satimp(inp, cfg: SatImpConfig):
    """SatImp: -mean_t[sg(p^b1 (1-p)^b2) l_t](forget) + alpha NLL(retain) [Yang et al. 2025].

    Paper: Yang et al. 2025.
    Loss: −γ·mean_t[sg(p_t^β1·(1−p_t)^β2)·ℓ_t] + α·NLL_mean(D_r)
    """
    forget = satimp_forget_loss(inp.forget.token_logps, inp.forget.mask, cfg.beta1, cfg.beta2)
    retain_nll = batch_mean(inp.retain.nll_mean)
    return cfg.gamma * forget + cfg.alpha * retain_nll, {"satimp": forget.item(), "retain_nll": retain_nll.item()}
