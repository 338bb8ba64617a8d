"""IdkDPO: DPO with a refusal preferred over the true forget answer.

Paper: Rafailov et al. (2023) "Direct Preference Optimization"; used for unlearning with "I don't
know" answers in TOFU (Maini et al., 2024) and in Zhang et al. (2024, NPO). Loss:
    L = -(2/beta) * mean log sigmoid(beta * [(log pi_theta - log pi_ref)(y_idk)
                                             - (log pi_theta - log pi_ref)(y_f)]) + alpha * NLL_mean(D_r)
The refusals come from the dataset's idontknow file (one drawn per forget question, seeded).
"""
from dataclasses import dataclass

import torch.nn.functional as F

from harness.distributed import batch_mean
from harness.registry import register_method
from harness.schema import num


@dataclass
class IdkDPOConfig:
    beta: float = num(0.1, gt=0)   # inverse temperature of the DPO loss
    alpha: float = num(1.0, ge=0)  # weight of the retain NLL term


def dpo_loss(logp_win, ref_win, logp_lose, ref_lose, beta: float):
    """-(2/beta) * mean log sigmoid(beta * ((logp_win - ref_win) - (logp_lose - ref_lose)))."""
    return -(2.0 / beta) * batch_mean(F.logsigmoid(beta * ((logp_win - ref_win) - (logp_lose - ref_lose))))


@register_method("idkdpo", config=IdkDPOConfig, needs=("forget", "ref_forget", "idk", "ref_idk", "retain"),
                 lr=3e-3, epochs=5, lora_lr=1e-2)
def idkdpo(inp, cfg: IdkDPOConfig):
    """IdkDPO: DPO preferring a refusal over the forget answer, + alpha NLL(retain) [Rafailov et al. 2023; TOFU].

    Paper: Rafailov et al. 2023; TOFU.
    Loss: −(2/β)·mean log σ(β·[Δ(y_idk) − Δ(y_f)]) + α·NLL_mean(D_r), Δ = log π_θ − log π_ref
    """
    pref = dpo_loss(inp.idk.seq_logp, inp.ref_idk.seq_logp, inp.forget.seq_logp, inp.ref_forget.seq_logp, cfg.beta)
    retain_nll = batch_mean(inp.retain.nll_mean)
    return pref + cfg.alpha * retain_nll, {"dpo": pref.item(), "retain_nll": retain_nll.item()}
