"""Batching and log-probabilities over answer tokens only (prompt and padding masked out)."""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.layers import unwrap
from harness.meter import count_linear
from harness.prompts import Encoded

IGNORE = -100
# Which path label log-probs take (model.label_logprobs, set per run by label_path): 0 = full logits,
# N > 0 = chunked_answer_logprobs with N answer tokens a chunk; _FUSED: liger-kernel's fused
# linear-cross-entropy instead of the chunks (CUDA only).
_CHUNK: contextvars.ContextVar[int] = contextvars.ContextVar("label_logprob_chunk", default=0)
_FUSED: contextvars.ContextVar[bool] = contextvars.ContextVar("label_logprob_fused", default=False)


def fused_available() -> bool:
    """liger-kernel importable (an optional dependency: `pip install liger-kernel` on a CUDA machine)."""
    import importlib.util
    return importlib.util.find_spec("liger_kernel") is not None


@contextlib.contextmanager
def label_path(mode: str, chunk: int, device):
    """Within this block, answer_logprobs without kept logits takes the chunked path when `mode` is
    'chunked', or 'auto' on a CUDA device (on a CPU the full path is as fast and keeps every number the
    harness has published); 'fused' (and 'auto' on CUDA when liger-kernel is installed) runs liger's
    fused linear-cross-entropy kernel on the same answer positions; 'full' always takes the reference path."""
    cuda = getattr(device, "type", str(device)) == "cuda"
    fused = mode == "fused" or (mode == "auto" and cuda and fused_available())
    use = fused or mode == "chunked" or (mode == "auto" and cuda)
    token, ftoken = _CHUNK.set(chunk if use else 0), _FUSED.set(fused)
    try:
        yield
    finally:
        _CHUNK.reset(token)
        _FUSED.reset(ftoken)


def label_path_name() -> str:
    """The path label log-probs take here (recorded in a run's compute.json)."""
    return "fused" if _FUSED.get() else ("chunked" if _CHUNK.get() else "full")


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
    materialising a full-vocabulary log-softmax copy. Inside label_path(...) that selects it, and when
    the logits need not be kept, the chunked path instead (the same numbers, a fraction of the memory)."""
    chunk = _CHUNK.get()
    if chunk and not keep_logits and _head_parts(model) is not None:
        return chunked_answer_logprobs(model, batch, chunk)
    dev = next(model.parameters()).device
    ids, att, labels = (batch[k].to(dev) for k in ("input_ids", "attention_mask", "labels"))
    logits = model(input_ids=ids, attention_mask=att).logits[:, :-1]
    tgt = labels[:, 1:]
    mask = (tgt != IGNORE)
    nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), tgt.reshape(-1),
                          ignore_index=IGNORE, reduction="none").view(tgt.shape)
    return TokenLogProbs(-nll * mask, mask.to(nll.dtype), logits if keep_logits else None,
                         tgt.masked_fill(~mask, 0))


def _head_parts(model):
    """(the causal LM module, its output head) of a model whose logits are head(decoder(x)) and nothing
    more (Llama, Mistral, Qwen: plain or inside peft); None for anything else (softcapped or scaled
    logits, an ensemble), which keeps the full-logits path."""
    inner = unwrap(model)
    cfg = getattr(inner, "config", None)
    head = getattr(inner, "lm_head", None)
    if getattr(inner, "model", None) is None or head is None or cfg is None:
        return None
    if getattr(cfg, "final_logit_softcapping", None) or getattr(cfg, "logit_scale", None):
        return None
    return inner, head


class _AnswerHead(torch.nn.Module):
    """Stands in for the output head during one forward pass of chunked_answer_logprobs: given the last
    hidden states [B, T, H] it returns the answer positions' NLL [N], computed `chunk` positions at a
    time by the real head, instead of [B, T, V] logits. The model's own forward runs around it, with
    its hooks (a sharded model's gathers, harness/sharded.py; peft's adapters)."""

    def __init__(self, head, mask, y, chunk: int):
        super().__init__()
        self.__dict__.update(real=head, mask=mask, y=y, chunk=chunk)  # not registered: no new submodule

    def forward(self, hidden):
        h, y, head = hidden[:, :-1][self.mask], self.y, self.real   # [N, H], [N]: answer positions only
        if _FUSED.get() and len(y) and isinstance(getattr(head, "weight", None), torch.Tensor):
            return _fused_nll(head, h, y)
        if not len(y):
            return h.new_zeros(0)
        return torch.cat([_chunk_nll(head, h[i:i + self.chunk], y[i:i + self.chunk])
                          for i in range(0, len(y), self.chunk)])


def chunked_answer_logprobs(model, batch: dict, chunk: int = 256) -> TokenLogProbs:
    """answer_logprobs without the batch's full-vocabulary logits: the model's forward runs once with its
    output head replaced (_AnswerHead), which applies the head and the cross-entropy to the answer
    positions only, `chunk` of them at a time, each chunk recomputed in the backward pass (activation
    checkpointing) instead of kept. Peak memory holds one chunk's [chunk, V] logits (in the head's dtype,
    plus its fp32 cross-entropy) instead of [B, T, V] twice; the numbers are the same as answer_logprobs'
    up to float summation order. Falls back to the reference path for models it cannot split
    (see _head_parts)."""
    parts = _head_parts(model)
    if parts is None:
        return answer_logprobs(model, batch)
    inner, head = parts
    dev = next(model.parameters()).device
    ids, att, labels = (batch[k].to(dev) for k in ("input_ids", "attention_mask", "labels"))
    tgt = labels[:, 1:]
    mask = tgt != IGNORE
    inner.lm_head = _AnswerHead(head, mask, tgt[mask], chunk)
    try:
        nll = model(input_ids=ids, attention_mask=att).logits
    finally:
        inner.lm_head = head
    out = torch.zeros(tgt.shape, dtype=nll.dtype, device=dev).masked_scatter(mask, -nll)
    return TokenLogProbs(out, mask.to(out.dtype), None, tgt.masked_fill(~mask, 0))


def _chunk_nll(head, h, y):
    """Cross-entropy of one chunk of answer positions; under autograd its logits are recomputed in the
    backward pass rather than stored."""
    def f(hh):
        return F.cross_entropy(head(hh).float(), y, reduction="none")
    if torch.is_grad_enabled() and h.requires_grad:
        from torch.utils.checkpoint import checkpoint
        return checkpoint(f, h, use_reentrant=False)
    return f(h)


def _fused_nll(head, h, y):
    """Per-token cross-entropy of head(h) against y through liger-kernel's fused linear-cross-entropy
    (Triton): logits are formed block by block in on-chip memory and never stored; with reduction
    'none' liger recomputes them in the backward pass, where the per-token upstream gradient is known
    (the same recompute-for-memory trade as the chunked path, in one fused kernel). fp32 results."""
    from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss

    loss = LigerFusedLinearCrossEntropyLoss(reduction="none", accum_dtype=torch.float32)
    out = loss(head.weight, h.contiguous(), y, getattr(head, "bias", None)).float()
    count_linear(head, h, out)   # the head never runs as a module here: the FLOP meter is told
    return out
