"""Gradient ascent (GA).

Paper: the baseline of TOFU (Maini et al., 2024, "TOFU: A Task of Fictitious Unlearning for LLMs"),
after Jang et al. (2023) "Knowledge Unlearning for Mitigating Privacy Risks in Language Models".
Loss: L = -NLL_mean(D_f): maximise the forget answers' mean token NLL. Unbounded below, so with
enough steps it destroys the model; the literature expects model utility to collapse.
"""
from dataclasses import dataclass

from harness.distributed import batch_mean
from harness.registry import register_method


@dataclass
class GradAscentConfig:
    pass  # no hyperparameters beyond the loop's (lr, epochs)


@register_method("grad_ascent", config=GradAscentConfig, needs=("forget",), lr=3e-4, epochs=5, lora_lr=2e-3)
def grad_ascent(inp, cfg: GradAscentConfig):
    """Gradient ascent: L = -mean NLL_mean(forget) [Jang et al. 2023; TOFU baseline].

    Paper: Jang et al. 2023; TOFU baseline.
    Loss: −NLL_mean(D_f)
    """
    forget_nll = batch_mean(inp.forget.nll_mean)
    return -forget_nll, {"forget_nll": forget_nll.item()}
