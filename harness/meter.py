"""What a block of work costs: its own peak memory and the FLOPs of its matrix multiplications.

Peak memory (`PeakMemory`): a run's own peak, not the process's lifetime peak (a grid runs many runs
in one process). On a GPU, the CUDA allocator's peak counters are reset when the block starts and
read when it ends. On a CPU there is no allocator counter, so a background thread samples the
process's resident set size (/proc/self/statm) every `interval` seconds during the block: the peak
of those samples is the block's peak RSS, and `start` is what the process already held when the
block began (the interpreter, the libraries, a grid worker's earlier runs), so `peak - start` is
what the block added: its `peak_mem_mb`. A spike shorter than the interval can be missed. Where
/proc is missing (macOS), only the process's lifetime peak (getrusage) is known: it is reported as
the absolute peak, and what the block added is unknown.

FLOPs (`FlopMeter`): hooks on every `nn.Linear` count, for each pass, with n the real (non-padding)
tokens of the pass and |W| the size of the weight matrix:
- forward: 2·|W|·n for every matrix that runs;
- backward, only for a matrix whose output receives a gradient (it lies between a trained parameter
  and the loss): 2·|W|·n for the gradient with respect to its input when that input needs one (some
  trained parameter lies below it), plus 2·|W|·n for the weight gradient when W itself trains.
So full fine-tuning costs 6·|W|·n per matrix, a frozen matrix above trained ones 4·|W|·n (forward and
the activation gradient it passes down), a frozen matrix below every trained one 2·|W|·n; LoRA pays
the activation gradients through the frozen network plus the small adapter matrices; RMU's backward
stops at its lowest trained layer and never touches the layers above the steered one. Embedding
lookups, norms and the attention score products (which grow with sequence length) are not counted,
as in the usual 6·N·D estimate. tests/test_cost.py checks the counts against torch's FlopCounterMode.
"""
from __future__ import annotations

import functools
import os
import resource
import threading
import weakref

import torch

from harness.layers import layer_list, unwrap


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


class PeakMemory:
    """Context manager: `.peak_mb` and `.start_mb` (RSS, absolute), `.added_mb` (their difference) and
    `.gpu_peak_mb` of the block."""

    def __init__(self, device: torch.device | str = "cpu", interval: float = 0.005):
        self.device = torch.device(device)
        self.interval = interval
        self.start_mb = self.peak_mb = self.gpu_peak_mb = None
        self.method = "sampled RSS"
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            now = _rss_mb()
            if now is not None and now > self.peak_mb:
                self.peak_mb = now

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self.start_mb = _rss_mb()
        if self.start_mb is None:  # no /proc: only the lifetime peak exists
            self.method = "lifetime peak RSS (getrusage; no /proc on this system)"
        else:
            self.peak_mb = self.start_mb
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.start_mb is None:
            self.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        else:
            self._stop.set()
            self._thread.join()
            end = _rss_mb()
            self.peak_mb = max(self.peak_mb, end or 0.0)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.gpu_peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20

    @property
    def added_mb(self) -> float | None:
        """What the block added to the process's resident set at its peak (None without /proc)."""
        return None if self.start_mb is None or self.peak_mb is None else self.peak_mb - self.start_mb

    def record(self, prefix: str = "") -> dict:
        """peak_mem_mb: the block's own increase; peak_rss_mb: the process's absolute peak during it (the
        lifetime peak without /proc); rss_start_mb: what the process held when it began."""
        return {f"{prefix}peak_mem_mb": self.added_mb, f"{prefix}peak_rss_mb": self.peak_mb,
                f"{prefix}rss_start_mb": self.start_mb, f"{prefix}gpu_peak_mem_mb": self.gpu_peak_mb}


def _real_tokens(args, kwargs) -> int:
    """Real positions of a forward call: the attention mask's ones when it covers exactly the input
    (a scoring or training pass); otherwise every input position (a generation step with a cache)."""
    ids = kwargs.get("input_ids", args[0] if args else None)
    mask = kwargs.get("attention_mask")
    if ids is None:
        emb = kwargs.get("inputs_embeds")
        return int(emb.shape[0] * emb.shape[1]) if emb is not None else 0
    if mask is not None and mask.shape == ids.shape:
        return int(mask.sum())
    return int(ids.numel())


_ACTIVE: list = []   # the FlopMeters now counting (count_linear reaches them)


def count_linear(module, x, out) -> None:
    """For code that applies a Linear's weight without calling the module (the fused label kernel,
    harness/tensors.py): count it as if the module had run on x, giving out, for every active meter
    that watches the module."""
    for meter in _ACTIVE:
        if id(module) in meter._watched:
            meter._linear(module, (x,), out)


class FlopMeter:
    """Count matmul FLOPs of every forward and backward pass of the given models while active."""

    def __init__(self, *models, units=()):
        self.models = [m for m in models if m is not None]
        self.units = list(units)   # modules counted whole (compiled layers: no hooks can run inside them)
        self.forward = 0
        self.backward = 0
        self._n = 0
        self._handles = []
        self._watched: set = set()
        self._recorded: dict = {}   # (layer, input) -> the real tokens of the pass it belongs to

    @property
    def total(self) -> int:
        return self.forward + self.backward

    def _pre(self, module, args, kwargs):
        self._n = _real_tokens(args, kwargs)

    def _layer_pre(self, module, args, kwargs):
        """A decoder layer's pass records the pass's real tokens under its (live) input tensor; the entry
        goes when that tensor is freed. (Activation checkpointing keeps the input for the backward pass.)"""
        x = args[0] if args else kwargs.get("hidden_states")
        if isinstance(x, torch.Tensor):
            key = (id(module), x.data_ptr(), tuple(x.shape))
            self._recorded[key] = self._n
            weakref.finalize(x, self._recorded.pop, key, None)

    def _child_pre(self, layer_id, module, args, kwargs):
        """A module inside a decoder layer that receives the layer's input (its first norm): when the
        backward pass recomputes the layer (activation checkpointing runs the layer's forward again, not
        its hooks), the count is that input's pass's, not whichever pass ran last (a retain or reference
        pass of another length)."""
        x = args[0] if args else kwargs.get("hidden_states")
        if isinstance(x, torch.Tensor):
            self._n = self._recorded.get((layer_id, x.data_ptr(), tuple(x.shape)), self._n)

    def _tokens(self, x) -> int:
        """The real tokens of the pass, or fewer: the rows x holds when the chunked or fused label path
        runs the head on the answer rows only."""
        rows = x.numel() // max(1, x.shape[-1]) if isinstance(x, torch.Tensor) else self._n
        return min(self._n, rows)

    def _linear(self, module, inputs, out):
        size, n = module.weight.numel(), self._tokens(inputs[0] if inputs else None)
        self.forward += 2 * size * n
        if torch.is_grad_enabled() and isinstance(out, torch.Tensor) and out.requires_grad:
            factor = int(inputs[0].requires_grad) + int(module.weight.requires_grad)

            def on_grad(_grad, cost=2 * size * n * factor):
                self.backward += cost
            out.register_hook(on_grad)

    def _unit(self, module, args, kwargs, out):
        """A whole block (compiled): its matrices' forward count, and a backward count in which every
        matrix passes an input gradient when the block's input or any of its weights carries one."""
        x = args[0] if args else kwargs.get("hidden_states")
        n = self._tokens(x)
        lins = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
        self.forward += 2 * sum(m.weight.numel() for m in lins) * n
        y = out[0] if isinstance(out, tuple) else out
        if torch.is_grad_enabled() and isinstance(y, torch.Tensor) and y.requires_grad:
            trains = any(m.weight.requires_grad for m in lins)
            carries = (isinstance(x, torch.Tensor) and x.requires_grad) or trains
            cost = sum(2 * m.weight.numel() * n * (int(carries) + int(m.weight.requires_grad)) for m in lins)

            def on_grad(_grad, cost=cost):
                self.backward += cost
            y.register_hook(on_grad)

    def __enter__(self) -> "FlopMeter":
        from transformers import PreTrainedModel

        seen = {id(m) for u in self.units for m in u.modules()}   # inside a unit: counted by the unit
        for u in self.units:
            self._handles.append(u.register_forward_hook(self._unit, with_kwargs=True))
        for model in self.models:
            self._handles.append(model.register_forward_pre_hook(self._pre, with_kwargs=True))
            for m in model.modules():  # an inner model called on its own (a bare decoder) counts its pass too
                if m is not model and isinstance(m, PreTrainedModel):
                    self._handles.append(m.register_forward_pre_hook(self._pre, with_kwargs=True))
            # activation checkpointing (harness/compiled.py) recomputes layers in the backward pass: each
            # recomputation is counted with its own pass's tokens (no recomputation, no hooks needed)
            for layer in layer_list(model) if getattr(unwrap(model), "is_gradient_checkpointing", False) else []:
                if id(layer) in seen:  # compiled: no hooks inside
                    continue
                self._handles.append(layer.register_forward_pre_hook(self._layer_pre, with_kwargs=True))
                for child in layer.children():
                    hook = functools.partial(self._child_pre, id(layer))
                    self._handles.append(child.register_forward_pre_hook(hook, with_kwargs=True))
            for m in model.modules():
                if isinstance(m, torch.nn.Linear) and id(m) not in seen:
                    seen.add(id(m))
                    self._watched.add(id(m))
                    self._handles.append(m.register_forward_hook(self._linear))
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        if self in _ACTIVE:
            _ACTIVE.remove(self)


def matmul_params(model) -> int:
    """Parameters of the weight matrices a forward pass multiplies by (every nn.Linear, each once)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
