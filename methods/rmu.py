"""Representation Misdirection for Unlearning (RMU).

Paper: Li et al. (2024) "The WMDP Benchmark: Measuring and Reducing Malicious Use With Unlearning".
With h_l the output of decoder layer l, u a fixed random unit vector (uniform [0,1)^d, normalised):
    L = mean_f ||h_l^theta(x_f) - c*u||^2 + alpha * mean_r ||h_l^theta(x_r) - h_l^ref(x_r)||^2
Each mean is the WMDP code's MSE (over tokens and hidden dimensions; padding masked out here). Only
the MLP down-projections of layers l-2..l train (`trainable`), unless adapters are used. No gradient
clipping by default (as the WMDP code): the MSE is in activation units and clipping at 1 stalls it.

Defaults are for the default benchmark's 2-layer model (see methods/README.md for the search). For
7B-class models use the WMDP paper's Zephyr-7B values: layer=7, steering_coeff=6.5, alpha=1200,
unlearn.lr=5e-5, batch 4, 150 batches (c and alpha track the model's activation scale).
"""
import re
from dataclasses import dataclass

import torch

from harness.distributed import batch_mean
from harness.registry import register_method
from harness.schema import num, text


def _regex(v: str) -> str | None:
    try:
        re.compile(v)
    except re.error as e:
        return f"a valid regular expression ({e})"
    return None


@dataclass
class RMUConfig:
    layer: int = num(1, ge=0)               # l, 0-based decoder layer whose output is steered (Zephyr-7B: 7)
    steering_coeff: float = num(20.0, gt=0)  # c (Zephyr-7B: 6.5)
    alpha: float = num(1.0, ge=0)           # weight of the retain term (Zephyr-7B: 1200)
    trainable: str = text("", check=_regex)  # regex of parameter names to train; '' = down_proj of layers l-2..l
    u_seed: int = num(0, ge=0)              # seed of the random direction u


def trainable_params(cfg: RMUConfig) -> str:
    if cfg.trainable:
        return cfg.trainable
    layers = "|".join(str(i) for i in range(max(0, cfg.layer - 2), cfg.layer + 1))
    return rf"layers\.({layers})\.mlp\.down_proj\.weight$"


_U: dict = {}


def control_vector(dim: int, seed: int, like: torch.Tensor) -> torch.Tensor:
    """u: uniform [0,1)^d, normalised to unit length; fixed for a (dim, seed)."""
    if (dim, seed) not in _U:
        g = torch.Generator().manual_seed(seed)
        u = torch.rand(dim, generator=g)
        _U[(dim, seed)] = u / u.norm()
    return _U[(dim, seed)].to(device=like.device, dtype=like.dtype)


def masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens of the mean squared difference over hidden dimensions."""
    per_token = ((a.float() - b.float()) ** 2).mean(-1)
    m = mask.to(per_token.dtype)
    return batch_mean(per_token, m)


@register_method("rmu", config=RMUConfig, needs=("forget_hidden", "retain_hidden", "ref_retain_hidden", "forget_group"),
                 lr=1e-2, epochs=10, trainable=trainable_params, lora_lr=1e-2, max_grad_norm=0.0)
def rmu(inp, cfg: RMUConfig):
    """RMU: MSE(h_l(forget), c*u) + alpha * MSE(h_l(retain), h_l^ref(retain)) [Li et al. 2024, WMDP].

    Paper: Li et al. 2024 (WMDP).
    Loss: MSE(h_ℓ(x_f), c·u) + α·MSE(h_ℓ(x_r), h_ℓ^ref(x_r)); only down_proj of layers ℓ−2..ℓ train
    """
    hf = inp.forget_hidden
    # one random direction per forget corpus, as the WMDP code draws one per topic
    target = cfg.steering_coeff * control_vector(hf.states.shape[-1], cfg.u_seed + inp.forget_group, hf.states)
    forget = masked_mse(hf.states, target.expand_as(hf.states), hf.mask)
    retain = masked_mse(inp.retain_hidden.states, inp.ref_retain_hidden.states, inp.retain_hidden.mask)
    return forget + cfg.alpha * retain, {"forget_mse": forget.item(), "retain_mse": retain.item()}
