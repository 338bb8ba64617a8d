"""The unlearning loop: one function, read top to bottom.

Forget batches drive the loop; each is paired with the next retain batch (cycled) when the method asks
for retain data. The method sees only what it declared (`needs`), computed here. No Trainer subclass:
an upstream signature change cannot break every method at once.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import torch

from harness.progress import bar
from harness.config import UnlearnConfig
from harness.prompts import Encoded
from harness.registry import Method
from harness.tensors import answer_logprobs, collate


class Diverged(RuntimeError):
    """The loss became NaN or infinite; the run is marked diverged and the grid goes on."""


class LossInputs:
    """What the loop supplies to a loss; reading a supply the method did not declare is an error."""

    def __init__(self, method: str, values: dict):
        self._method, self._values = method, values

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._values:
            raise AttributeError(f"method '{self._method}' reads '{name}' but did not declare it in "
                                 f"needs=(...) of @register_method")
        return self._values[name]


@dataclass
class UnlearnStats:
    steps: int = 0
    tokens_forward: int = 0    # tokens through any forward pass (trained and reference)
    tokens_backward: int = 0   # tokens through the trained model's backward pass
    seconds: float = 0.0
    trainable_params: int = 0
    log: list = field(default_factory=list)


def _batches(items: list[Encoded], size: int, gen: torch.Generator):
    order = torch.randperm(len(items), generator=gen).tolist()
    for i in range(0, len(order), size):
        yield [items[j] for j in order[i:i + size]]


def _cycle(items: list[Encoded], size: int, gen: torch.Generator):
    while True:
        yield from _batches(items, size, gen)


def _supply(method: Method, model, ref, forget, retain, pad_id: int) -> tuple[LossInputs, int, int]:
    """Compute exactly the inputs the method declared. Returns inputs, forward and backward tokens."""
    vals, fwd, bwd = {}, 0, 0
    fb = collate(forget, pad_id)
    rb = collate(retain, pad_id) if retain is not None else None
    if "forget" in method.needs:
        vals["forget"] = answer_logprobs(model, fb)
        fwd += int(fb["attention_mask"].sum()); bwd += int(fb["attention_mask"].sum())
    if "retain" in method.needs or "retain_logits" in method.needs:
        vals["retain"] = answer_logprobs(model, rb, keep_logits="retain_logits" in method.needs)
        fwd += int(rb["attention_mask"].sum()); bwd += int(rb["attention_mask"].sum())
    with torch.no_grad():
        if "ref_forget" in method.needs:
            vals["ref_forget"] = answer_logprobs(ref, fb)
            fwd += int(fb["attention_mask"].sum())
        if "ref_retain" in method.needs or "retain_logits" in method.needs:
            vals["ref_retain"] = answer_logprobs(ref, rb, keep_logits="retain_logits" in method.needs)
            fwd += int(rb["attention_mask"].sum())
    return LossInputs(method.name, vals), fwd, bwd


def unlearn(model, method: Method, method_cfg, forget: list[Encoded], retain: list[Encoded],
            cfg: UnlearnConfig, seed: int, pad_id: int, progress: bool = True) -> UnlearnStats:
    """Run `method` on `model` in place. cfg.lr and cfg.epochs must already be resolved."""
    if not forget:
        raise ValueError("unlearn: the forget set is empty")
    needs_retain = bool(method.needs & {"retain", "ref_retain", "retain_logits"})
    if needs_retain and not retain:
        raise ValueError(f"unlearn: method '{method.name}' needs retain data but the retain set is empty")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    # The reference is the frozen start model; only made when the method asks for it.
    ref = None
    if method.needs & {"ref_forget", "ref_retain", "retain_logits"}:
        ref = copy.deepcopy(model).eval().requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = cfg.epochs * math.ceil(len(forget) / cfg.batch_size)
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    warm = max(1, cfg.warmup_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm))
    retain_iter = _cycle(retain, cfg.retain_batch_size, gen) if needs_retain else None
    stats = UnlearnStats(trainable_params=sum(p.numel() for p in params))
    model.train()
    t0 = time.perf_counter()
    pbar = bar(total, f"unlearn {method.name}", progress)
    while stats.steps < total:
        for fb in _batches(forget, cfg.batch_size, gen):
            rb = next(retain_iter) if retain_iter else None
            inputs, fwd, bwd = _supply(method, model, ref, fb, rb, pad_id)
            loss, logs = method.loss(inputs, method_cfg)
            if not torch.isfinite(loss):
                raise Diverged(f"loss became {loss.item()} at step {stats.steps}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            opt.step()
            sched.step()
            stats.steps += 1
            stats.tokens_forward += fwd
            stats.tokens_backward += bwd
            stats.log.append({"step": stats.steps, "loss": loss.item(), **logs})
            pbar.update(1)
            pbar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            if stats.steps >= total:
                break
    pbar.close()
    model.eval()
    stats.seconds = time.perf_counter() - t0
    return stats
