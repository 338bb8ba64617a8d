"""Gradient difference (GradDiff).

Paper: Liu et al. (2022) "Continual Learning and Private Unlearning"; a TOFU baseline (Maini et al.,
2024). Loss: L = gamma * (-NLL_mean(D_f)) + alpha * NLL_mean(D_r): ascend on forget answers while
descending on retain answers, so retained knowledge is actively kept.
"""
from dataclasses import dataclass

from harness.distributed import batch_mean
from harness.registry import register_method
from harness.schema import num


@dataclass
class GradDiffConfig:
    gamma: float = num(1.0, ge=0)  # weight of the forget (ascent) term
    alpha: float = num(1.0, ge=0)  # weight of the retain NLL term


@register_method("graddiff", config=GradDiffConfig, needs=("forget", "retain"), lr=1e-3, epochs=5, lora_lr=3e-3)
def graddiff(inp, cfg: GradDiffConfig):
    """GradDiff: L = gamma * (-NLL_mean(forget)) + alpha * NLL_mean(retain) [Liu et al. 2022].

    Paper: Liu et al. 2022; TOFU baseline.
    Loss: −γ·NLL_mean(D_f) + α·NLL_mean(D_r)
    """
    forget_nll = batch_mean(inp.forget.nll_mean)
    retain_nll = batch_mean(inp.retain.nll_mean)
    loss = -cfg.gamma * forget_nll + cfg.alpha * retain_nll
    return loss, {"forget_nll": forget_nll.item(), "retain_nll": retain_nll.item()}
