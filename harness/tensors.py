"""Batching and log-probabilities over answer tokens only (prompt and padding masked out)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.prompts import Encoded

IGNORE = -100


def collate(items: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded input_ids/attention_mask/labels; labels are -100 except on answer tokens."""
    width = max(len(e.prompt) + len(e.answer) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for i, e in enumerate(items):
        seq = e.prompt + e.answer
        ids[i, :len(seq)] = torch.tensor(seq)
        mask[i, :len(seq)] = 1
        labels[i, len(e.prompt):len(seq)] = torch.tensor(e.answer)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def left_pad(prompts: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-padded prompts for batched generation (new tokens then line up on the right)."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    return {"input_ids": ids, "attention_mask": mask}


@dataclass
class TokenLogProbs:
    """log p(y_t | x, y_<t) at every answer position; `mask` marks real answer tokens."""
    token_logps: torch.Tensor  # [B, T-1], 0 where masked
    mask: torch.Tensor         # [B, T-1] float
    logits: torch.Tensor | None = None  # [B, T-1, V], kept only when asked for
    targets: torch.Tensor | None = None  # [B, T-1] next-token ids (0 where masked)

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(-1)

    @property
    def seq_logp(self) -> torch.Tensor:
        """log pi(y|x) = -NLL_sum."""
        return self.token_logps.sum(-1)

    @property
    def nll_mean(self) -> torch.Tensor:
        """NLL_sum / |y| per sequence."""
        return -self.seq_logp / self.lengths.clamp(min=1)


def answer_logprobs(model, batch: dict, keep_logits: bool = False) -> TokenLogProbs:
    """One teacher-forced forward pass; log-probs of the label tokens via cross-entropy, which avoids
    materialising a full-vocabulary log-softmax copy."""
    dev = next(model.parameters()).device
    ids, att, labels = (batch[k].to(dev) for k in ("input_ids", "attention_mask", "labels"))
    logits = model(input_ids=ids, attention_mask=att).logits[:, :-1]
    tgt = labels[:, 1:]
    mask = (tgt != IGNORE)
    nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), tgt.reshape(-1),
                          ignore_index=IGNORE, reduction="none").view(tgt.shape)
    return TokenLogProbs(-nll * mask, mask.to(nll.dtype), logits if keep_logits else None,
                         tgt.masked_fill(~mask, 0))
