"""GradDiff with a KL retain term (KL-retain).

Paper: the "KL Min" baseline of TOFU (Maini et al., 2024). Loss:
L = gamma * (-NLL_mean(D_f)) + alpha * KL(pi_ref || pi_theta) on retain inputs, the KL taken over the
next-token distributions at answer positions only (a public implementation took it over prompt and
padding positions too, which mixes in terms no answer depends on), averaged over those positions.
"""
from dataclasses import dataclass

import torch.nn.functional as F

from harness.distributed import batch_mean
from harness.registry import register_method
from harness.schema import num


@dataclass
class KLRetainConfig:
    gamma: float = num(1.0, ge=0)  # weight of the forget (ascent) term
    alpha: float = num(1.0, ge=0)  # weight of the retain KL term


def answer_kl(ref, cur) -> "torch.Tensor":  # noqa: F821
    """Mean over answer positions of KL(p_ref || p_theta) between next-token distributions."""
    lp_ref = F.log_softmax(ref.logits.float(), -1)
    lp_cur = F.log_softmax(cur.logits.float(), -1)
    kl = (lp_ref.exp() * (lp_ref - lp_cur)).sum(-1)       # [B, T-1]
    return batch_mean(kl, cur.mask)


@register_method("graddiff_kl", config=KLRetainConfig, needs=("forget", "retain_logits"), lr=1e-3, epochs=5,
                 lora_lr=3e-3)
def graddiff_kl(inp, cfg: KLRetainConfig):
    """GradDiff-KL: L = gamma * (-NLL_mean(forget)) + alpha * KL(ref || theta)(retain answers) [TOFU].

    Paper: TOFU "KL" baseline.
    Loss: −γ·NLL_mean(D_f) + α·KL(π_ref‖π_θ), retain answer positions only
    """
    forget_nll = batch_mean(inp.forget.nll_mean)
    kl = answer_kl(inp.ref_retain, inp.retain)
    return -cfg.gamma * forget_nll + cfg.alpha * kl, {"forget_nll": forget_nll.item(), "retain_kl": kl.item()}
