"""Plain supervised fine-tuning (NLL on answer tokens), used to build the base, target and retain
models. Kept apart from the unlearning loop: it has no method, reference model or retain pairing."""
from __future__ import annotations

import math

import torch

from harness.meter import FlopMeter
from harness.progress import bar
from harness.config import TrainRecipe
from harness.prompts import Encoded
from harness.tensors import answer_logprobs, collate


def finetune(model, examples: list[Encoded], recipe: TrainRecipe, seed: int, pad_id: int,
             desc: str = "train", progress: bool = True) -> dict:
    """Train in place with AdamW, linear warm-up then cosine decay. Returns steps, tokens, final loss."""
    if not examples:
        raise ValueError(f"{desc}: no training examples")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    per_epoch = math.ceil(len(examples) / recipe.batch_size)
    total = recipe.epochs * per_epoch
    warm = max(1, int(recipe.warmup_frac * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm))))
    model.train()
    steps, tokens, loss_ema = 0, 0, None
    pbar = bar(total, desc, progress)
    with FlopMeter(model) as meter:  # the same count as unlearning's: cost ratios compare like with like
        for _ in range(recipe.epochs):
            order = torch.randperm(len(examples), generator=gen).tolist()
            for i in range(0, len(order), recipe.batch_size):
                batch = collate([examples[j] for j in order[i:i + recipe.batch_size]], pad_id)
                lp = answer_logprobs(model, batch)
                loss = -lp.token_logps.sum() / lp.mask.sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                steps += 1
                tokens += int(batch["attention_mask"].sum())
                loss_ema = loss.item() if loss_ema is None else 0.9 * loss_ema + 0.1 * loss.item()
                pbar.update(1)
                pbar.set_postfix(loss=f"{loss_ema:.3f}", refresh=False)
    pbar.close()
    model.eval()
    return {"steps": steps, "tokens": tokens, "final_loss": loss_ema, "flops": meter.total,
            "flops_forward": meter.forward, "flops_backward": meter.backward}
