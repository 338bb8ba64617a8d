"""UNDIAL: self-distillation with adjusted logits.

Paper: Dong, Lin, Belinkov, Mao, Paris, Wang (2024) "UNDIAL: Self-Distillation with Adjusted Logits
for Robust Unlearning in Large Language Models" (NAACL 2025). The model is distilled towards the frozen
start model's own next-token distribution with the true token's logit lowered by beta, at every forget
answer position:
    q_t = softmax(z_ref,t - beta * onehot(y_t)),   L = mean_t CE(q_t, p_theta,t) = -mean_t sum_v q_t,v log p_theta,t,v
The target is fixed and bounded, so there is no ascent term and the loss cannot run away; no retain
term either (the rest of the distribution is kept by the distillation itself).
"""
from dataclasses import dataclass

import torch.nn.functional as F

from harness.distributed import batch_mean
from harness.registry import register_method
from harness.schema import num


@dataclass
class UNDIALConfig:
    beta: float = num(10.0, ge=0)  # how far the true token's logit is lowered (paper: 10)


def undial_targets(ref_logits, targets, beta: float):
    """softmax(z_ref - beta * onehot(y)) at every position."""
    z = ref_logits.float() - beta * F.one_hot(targets, ref_logits.shape[-1]).float()
    return F.softmax(z, dim=-1)


def soft_ce(logits, q, mask):
    """mean over answer positions of -sum_v q_v log softmax(logits)_v."""
    ce = -(q * F.log_softmax(logits.float(), dim=-1)).sum(-1)
    return batch_mean(ce, mask)


@register_method("undial", config=UNDIALConfig, needs=("forget_logits", "ref_forget_logits"), lr=1e-3, epochs=5,
                 lora_lr=2e-3)
def undial(inp, cfg: UNDIALConfig):
    """UNDIAL: mean_t CE(softmax(z_ref - beta onehot(y_t)), p_theta) on forget answers [Dong et al. 2024].

    Paper: Dong et al. 2024.
    Loss: mean_t CE(softmax(z_ref − β·onehot(y_t)), p_θ) on forget answers
    """
    q = undial_targets(inp.ref_forget.logits, inp.forget.targets, cfg.beta)
    loss = soft_ce(inp.forget.logits, q, inp.forget.mask)
    return loss, {"undial_ce": loss.item()}
