"""LoKU: low-rank knowledge unlearning with an inverted hinge loss and Fisher-initialised adapters.

Paper: Cha et al. (2024) "Towards Robust and Parameter-Efficient Knowledge Unlearning for LLMs".
Loss per forget answer token: IHL = 1 + p(y_t) - max_{v != y_t} p(v) (pushes the true token below the
best alternative, and stops once it is there), mean over answer tokens, + alpha * NLL_mean(D_r).

Adapter initialisation (FILA): before unlearning, the diagonal Fisher information of each adapted
weight is estimated on forget and retain batches; its importance for forgetting is F_f / (F_r + eps).
Each adapter is set to the rank-r approximation of the weight weighted by that importance (row-wise
weights, the weighted-SVD form), and the same product is subtracted from the frozen base weight, so
the model is unchanged at step 0 but its adapters start in the forget-relevant subspace.
Simplification, stated: importance is aggregated per output row (not per element).
LoRA-native: requires adapter.kind=lora.
"""
from dataclasses import dataclass

import torch

from harness.distributed import batch_mean
from harness.registry import register_method
from harness.schema import num
from harness.tensors import answer_logprobs, collate


@dataclass
class LoKUConfig:
    alpha: float = num(1.0, ge=0)       # weight of the retain NLL term
    fisher_batches: int = num(4, ge=1)  # batches of each set used to estimate the Fisher information
    fisher_batch_size: int = num(8, ge=1)


def inverted_hinge(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over answer tokens of 1 + p(y_t) - max_{v != y_t} p(v)."""
    probs = logits.float().softmax(-1)
    p_true = probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    best_other = probs.scatter(-1, targets.unsqueeze(-1), 0.0).max(-1).values
    ihl = 1 + p_true - best_other
    return batch_mean(ihl, mask)


def _lora_layers(model):
    return [m for m in model.modules() if hasattr(m, "lora_A") and "default" in getattr(m, "lora_A", {})]


def _fisher(model, layers, items, cfg, pad_id):
    weights = [m.base_layer.weight for m in layers]
    for w in weights:
        w.requires_grad_(True)
    acc = [torch.zeros_like(w, dtype=torch.float32) for w in weights]
    for b in range(cfg.fisher_batches):
        chunk = items[b * cfg.fisher_batch_size:(b + 1) * cfg.fisher_batch_size]
        if not chunk:
            break
        model.zero_grad(set_to_none=True)
        lp = answer_logprobs(model, collate(chunk, pad_id))
        lp.nll_mean.mean().backward()
        for a, w in zip(acc, weights):
            a += w.grad.float() ** 2
    for w in weights:
        w.grad = None
        w.requires_grad_(False)
    return acc


def _svd_one_thread(x: torch.Tensor):
    """LAPACK's SVD splits its work by the thread count, so its last bits depend on it; on one thread
    the initialisation (and every LoKU number after it) is the same however many threads or grid
    workers (`grid --workers`) a machine runs with."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.linalg.svd(x, full_matrices=False)
    finally:
        torch.set_num_threads(n)


@torch.no_grad()
def _set_adapter(layer, importance: torch.Tensor) -> None:
    w = layer.base_layer.weight
    a, b, s = layer.lora_A["default"].weight, layer.lora_B["default"].weight, layer.scaling["default"]
    r = a.shape[0]
    row = importance.sum(-1).clamp(min=1e-12).sqrt()              # [out]
    u, sv, vh = _svd_one_thread(row[:, None] * w.float())
    root = sv[:r].sqrt()
    a.copy_((root[:, None] * vh[:r]).to(a.dtype))
    b.copy_(((u[:, :r] * root[None, :]) / row[:, None] / s).to(b.dtype))
    w.sub_((s * b.float() @ a.float()).to(w.dtype))               # model output unchanged at init


def fila_init(model, forget, retain, cfg: LoKUConfig, pad_id: int) -> None:
    layers = _lora_layers(model)
    if not layers:
        raise ValueError("loku: no LoRA layers found; run with adapter.kind=lora")
    f_forget = _fisher(model, layers, forget, cfg, pad_id)
    f_retain = _fisher(model, layers, retain, cfg, pad_id)
    for layer, ff, fr in zip(layers, f_forget, f_retain):
        _set_adapter(layer, ff / (fr + 1e-8 * fr.mean().clamp(min=1e-12)))
    model.zero_grad(set_to_none=True)


@register_method("loku", config=LoKUConfig, needs=("forget_logits", "retain"), lr=3e-4, epochs=5,
                 init=fila_init, requires_adapter=True, lora_lr=3e-4)
def loku(inp, cfg: LoKUConfig):
    """LoKU: inverted hinge loss on forget tokens + alpha NLL(retain), FILA adapter init [Cha et al. 2024].

    Paper: Cha et al. 2024.
    Loss: inverted hinge 1 + p(y_t) − max_{v≠y_t} p(v) + α·NLL_mean(D_r); Fisher-initialised adapters (LoRA only)
    """
    f = inp.forget
    ihl = inverted_hinge(f.logits, f.targets, f.mask)
    retain_nll = batch_mean(inp.retain.nll_mean)
    return ihl + cfg.alpha * retain_nll, {"ihl": ihl.item(), "retain_nll": retain_nll.item()}
