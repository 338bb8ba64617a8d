"""`unlearn.compile`: the decoder layers' forward through torch.compile while the model unlearns.

Eager PyTorch runs a Llama layer as dozens of small kernels (norms, rotary embeddings, activations, the
residual adds) between the matrix products; torch.compile (Inductor) fuses them. On an H200 at
Llama-3.2-1B's shape this took a training step from 37.9% to 45.3% of the bf16 peak
(scripts/bench_train.py, docs/performance.md). Only the layers are compiled, each in
place (`layer.forward`), so the model object, its state dict and save_pretrained are untouched, the
output head stays free for the chunked or fused label path, and everything is restored after the loop
(evaluation generates with varying shapes, where compiling would only cost time).

Per-matrix FLOP hooks cannot run inside a compiled region, so while compiled the FLOP meter counts
per layer instead (harness/meter.py `units`): the same 2·|W|·n forward count, and a backward count
that assumes every matrix of a layer with any trainable weight or a gradient-carrying input passes an
input gradient (exact for full fine-tuning; an over-count for LoRA's first layer).
"""
from __future__ import annotations

import contextlib

import torch

from harness.layers import layer_list, unwrap


@contextlib.contextmanager
def compiled_layers(model, on: bool):
    """Within this block each decoder layer's forward is compiled (when `on` and the model has layers);
    yields the compiled layers (the FLOP meter's units), [] when nothing was compiled."""
    layers = layer_list(model) if on else []
    if layers:  # one compiled graph per layer instance at worst: keep them all (the default limit is 8)
        from torch import _dynamo
        _dynamo.config.cache_size_limit = max(_dynamo.config.cache_size_limit, 2 * len(layers) + 8)
    for layer in layers:
        # dynamic=None: the first new sequence length recompiles once with symbolic shapes, then no more
        layer.forward = torch.compile(layer.forward, dynamic=None)
    try:
        yield layers
    finally:
        for layer in layers:
            del layer.forward   # the instance attribute: back to the class's eager forward


@contextlib.contextmanager
def checkpointed(model, on: bool):
    """unlearn.checkpoint: activation checkpointing of the decoder layers while unlearning (transformers'
    gradient checkpointing, non-reentrant): each layer's activations are recomputed in the backward pass
    instead of kept, so a step's peak memory no longer grows with the layer count, for about one more
    forward pass of compute (the FLOP meter counts the recomputation as forward work). Switched off
    again after the loop."""
    inner = unwrap(model)
    use = on and getattr(inner, "supports_gradient_checkpointing", False)
    # transformers 5 names it activation checkpointing (the gradient_* names are deprecated aliases)
    new = hasattr(inner, "activation_checkpointing_enable")
    disable = inner.activation_checkpointing_disable if new else getattr(inner, "gradient_checkpointing_disable", None)
    cache = getattr(inner.config, "use_cache", None)
    if use:
        if new:
            inner.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            inner.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        inner.config.use_cache = False   # no KV cache in training passes (it would be dropped with a warning)
        if hasattr(inner, "enable_input_require_grads") and hasattr(model, "peft_config"):
            inner.enable_input_require_grads()   # LoRA: the frozen embedding's output must carry a gradient
    try:
        yield
    finally:
        if use:
            disable()
            inner.config.use_cache = cache
