"""Weighted gradient ascent (WGA).

Paper: Wang, Zhou, Zhou, Shin, Han, Yang (2025) "Rethinking LLM Unlearning Objectives: A Gradient
Perspective and Go Beyond" (ICLR 2025). Gradient ascent spends most of its force on tokens the model
already finds unlikely, which is what drives it to collapse; WGA weights each forget token's ascent by
the model's own (stop-gradient) probability of it, so the push fades as a token is forgotten:
    L_f = -mean_t [ sg(p_t)^beta * l_t ],   l_t = -log p_t over the forget answer tokens of the batch
    L   = gamma * L_f + alpha * NLL_mean(D_r)
beta = 0 is gradient ascent (token-level mean).
"""
from dataclasses import dataclass

from harness.distributed import batch_mean
from harness.registry import register_method
from harness.schema import num


@dataclass
class WGAConfig:
    beta: float = num(1.0, ge=0)   # weight exponent (paper: 1)
    gamma: float = num(1.0, ge=0)  # weight of the forget term
    alpha: float = num(1.0, ge=0)  # weight of the retain NLL term


def wga_forget_loss(token_logps, mask, beta: float):
    """-mean over answer tokens of sg(p_t)^beta * (-log p_t); p^beta = exp(beta * log p)."""
    weight = (beta * token_logps.detach()).exp()
    return -batch_mean(weight * -token_logps, mask)


@register_method("wga", config=WGAConfig, needs=("forget", "retain"), lr=3e-3, epochs=5, lora_lr=1e-2)
def wga(inp, cfg: WGAConfig):
    """WGA: -mean_t[sg(p_t)^beta * l_t](forget) + alpha NLL(retain) [Wang et al. 2025].

    Paper: Wang et al. 2025.
    Loss: −γ·mean_t[sg(p_t)^β·ℓ_t] + α·NLL_mean(D_r), token-level
    """
    forget = wga_forget_loss(inp.forget.token_logps, inp.forget.mask, cfg.beta)
    retain_nll = batch_mean(inp.retain.nll_mean)
    return cfg.gamma * forget + cfg.alpha * retain_nll, {"wga": forget.item(), "retain_nll": retain_nll.item()}
