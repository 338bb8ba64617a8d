"""SimNPO: simple, reference-free, length-normalised NPO.

Paper: Fan, Liu, Lin, Jia, Zhang, Mei, Liu (2024) "Simplicity Prevails: Rethinking Negative Preference
Optimization for LLM Unlearning". The paper writes the forget loss with a reward margin gamma:
    -(2/beta) * log sigmoid(-(beta/|y|) * log pi(y|x) - gamma)
      = -(2/beta) * log sigmoid(beta * (NLL_sum/|y| - gamma/beta)),
so with delta = gamma/beta (a margin in NLL units):
    L = -(2/beta) * mean_{D_f} log sigmoid(beta * (NLL_sum/|y| - delta)) + alpha * NLL_mean(D_r)
No reference model: the length-normalised NLL replaces NPO's reference log-ratio.
"""
from dataclasses import dataclass

import torch.nn.functional as F

from harness.distributed import batch_mean
from harness.registry import register_method
from harness.schema import num


@dataclass
class SimNPOConfig:
    beta: float = num(2.5, gt=0)   # inverse temperature (paper's TOFU setting)
    delta: float = num(0.0)        # margin in NLL units: the paper's gamma/beta (paper: gamma = 0 on TOFU)
    alpha: float = num(1.0, ge=0)  # weight of the retain NLL term


def simnpo_loss(nll_mean, beta: float, delta: float):
    """-(2/beta) * mean log sigmoid(beta * (NLL_mean - delta))."""
    return -(2.0 / beta) * batch_mean(F.logsigmoid(beta * (nll_mean - delta)))


@register_method("simnpo", config=SimNPOConfig, needs=("forget", "retain"), lr=3e-3, epochs=5, lora_lr=3e-3)
def simnpo(inp, cfg: SimNPOConfig):
    """SimNPO: -(2/beta) mean log sigmoid(beta (NLL_sum/|y| - delta))(forget) + alpha NLL(retain) [Fan et al. 2024].

    Paper: Fan et al. 2024.
    Loss: −(2/β)·mean log σ(β·(NLL_sum/|y| − δ)) + α·NLL_mean(D_r); δ = the paper's γ/β
    """
    forget = simnpo_loss(inp.forget.nll_mean, cfg.beta, cfg.delta)
    retain_nll = batch_mean(inp.retain.nll_mean)
    return forget + cfg.alpha * retain_nll, {"simnpo": forget.item(), "retain_nll": retain_nll.item()}
