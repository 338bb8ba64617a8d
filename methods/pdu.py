"""PDU: primal-dual unlearning with a flat-output forget loss and a retain constraint.

Paper: Entesari, Hatami, Khaziev, Ramakrishna, Fazlyab (2025) "Constrained Entropic Unlearning: A
Primal-Dual Framework for Large Language Models". Unlearning is posed as: make the model's output on
forget answers flat (maximum entropy), subject to the retain loss staying below a bound epsilon. The
forget loss pushes each position's logits towards their mean:
    L_f = mean_t (max_v z_t,v - mean_v z_t,v)^2
and the constraint enters through a dual variable lambda, updated after every step by projected
dual ascent:
    L = L_f + lambda * NLL_mean(D_r),    lambda <- max(0, lambda + eta * (NLL_mean(D_r) - epsilon))
lambda starts at lambda_init (its state lives for one run: set by the init hook, read and updated by
the loss).
"""
from dataclasses import dataclass

from harness.distributed import batch_mean, global_mean
from harness.registry import register_method
from harness.schema import num


@dataclass
class PDUConfig:
    epsilon: float = num(0.1, ge=0)      # bound on the retain NLL (nats per answer token)
    dual_lr: float = num(1.0, ge=0)      # eta, the dual variable's step size (chosen by the sweep)
    lambda_init: float = num(1.0, ge=0)  # the dual variable's starting value


def flatness_loss(logits, mask):
    """mean over answer positions of (max_v z_v - mean_v z_v)^2."""
    z = logits.float()
    gap = z.max(dim=-1).values - z.mean(dim=-1)
    return batch_mean(gap.pow(2), mask)


def dual_update(lam: float, retain_loss: float, epsilon: float, eta: float) -> float:
    """Projected dual ascent: lambda grows while the retain constraint is violated, shrinks to 0 otherwise."""
    return max(0.0, lam + eta * (retain_loss - epsilon))


def _start(model, forget, retain, cfg: PDUConfig, pad_id) -> None:
    cfg.__dict__["_lambda"] = cfg.lambda_init  # the run's dual state (not a config field: not hashed)


@register_method("pdu", config=PDUConfig, needs=("forget_logits", "retain"), lr=1e-3, epochs=5, lora_lr=1e-3,
                 init=_start)
def pdu(inp, cfg: PDUConfig):
    """PDU: mean_t (max z - mean z)^2 (forget) + lambda NLL(retain), lambda by dual ascent [Entesari et al. 2025].

    Paper: Entesari et al. 2025.
    Loss: mean_t (max_v z − mean_v z)² + λ·NLL_mean(D_r); λ ← max(0, λ + η·(NLL_r − ε)) each step
    """
    lam = cfg.__dict__.get("_lambda", cfg.lambda_init)
    flat = flatness_loss(inp.forget.logits, inp.forget.mask)
    retain_nll = batch_mean(inp.retain.nll_mean)
    # the global batch's retain NLL, so every process of a launched run keeps the same lambda
    cfg.__dict__["_lambda"] = dual_update(lam, global_mean(retain_nll.item()), cfg.epsilon, cfg.dual_lr)
    return flat + lam * retain_nll, {"flatness": flat.item(), "retain_nll": retain_nll.item(), "lambda": lam}
