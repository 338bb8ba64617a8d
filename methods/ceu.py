"""CE-U: cross-entropy unlearning.

Paper: Yang (2025) "CE-U: Cross Entropy Unlearning". The target at each forget answer position is the
model's own current distribution (stop-gradient) with the true token removed, i.e. its logit set to
-infinity; the loss is the cross-entropy to that target:
    q_t = softmax(sg(z_theta,t) with z[y_t] = -inf),   L = mean_t CE(q_t, p_theta,t)
Its gradient lowers the true token towards zero probability while keeping the ranking of the others;
unlike gradient ascent it is bounded below by the entropy of q. No retain term.
"""
from dataclasses import dataclass

import torch

from harness.registry import register_method
from methods.undial import soft_ce


@dataclass
class CEUConfig:
    pass  # no hyperparameters beyond the learning rate and epochs


def ceu_targets(logits, targets):
    """softmax of the detached logits with the true token's logit set to -inf."""
    z = logits.detach().float().clone()
    z.scatter_(-1, targets.unsqueeze(-1), float("-inf"))
    return torch.softmax(z, dim=-1)


@register_method("ceu", config=CEUConfig, needs=("forget_logits",), lr=1e-4, epochs=5, lora_lr=1e-3)
def ceu(inp, cfg: CEUConfig):
    """CE-U: mean_t CE(softmax(sg(z) with z[y_t] = -inf), p_theta) on forget answers [Yang 2025].

    Paper: Yang 2025.
    Loss: mean_t CE(softmax(sg(z_θ) with z[y_t] = −∞), p_θ) on forget answers
    """
    loss = soft_ce(inp.forget.logits, ceu_targets(inp.forget.logits, inp.forget.targets), inp.forget.mask)
    return loss, {"ceu_ce": loss.item()}
