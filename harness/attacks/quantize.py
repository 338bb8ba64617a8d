"""Quantisation attack: evaluate the unlearned model with its weights quantised.

Zhang et al. 2025 (*Catastrophic Failure of LLM Unlearning via Quantization*) found that unlearning by
small weight changes (gradient ascent, NPO with a utility term) can be undone by quantising: the
quantisation grid is coarser than the change, so the quantised unlearned model rounds back towards the
quantised target. Here every linear layer's weights except the output head are quantised per channel
group to `bits` (8: int8; 4: int4, group size 128), activations stay in full precision, with
optimum-quanto (a real quantisation library that runs on a CPU: `quantize` then `freeze`, so the
stored weights are the integer codes and their scales). The output head stays unquantised, as
bitsandbytes' and quanto's LLM recipes leave it.

On a CUDA GPU with bitsandbytes installed, `library=auto` (the default) quantises with bitsandbytes
instead, as the paper did: 4 bits as NF4 (blockwise, 64 weights a block), 8 bits as LLM.int8(); the
library used is recorded in each label's compute.json (`quant_library`). `library=quanto` forces
optimum-quanto everywhere (the numbers then do not depend on the machine).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Literal

import torch

from harness.attacks import register_attack
from harness.config import ConfigError
from harness.progress import say

BITS = (8, 4)
LIBRARIES = {"quanto": "optimum-quanto", "bitsandbytes": "bitsandbytes"}
LLM_INT8_THRESHOLD = 6.0  # LLM.int8()'s outlier threshold (Dettmers et al. 2022): larger activations stay 16-bit
NEEDS_BNB = "attack quantize: library=bitsandbytes needs a CUDA GPU and bitsandbytes installed"


def _bits(v: list) -> str | None:
    return None if v and all(b in BITS for b in v) else "a non-empty list of 8 and/or 4"


@dataclass
class QuantizeConfig:
    bits: list[int] = field(default_factory=lambda: [8, 4], metadata={"check": _bits})
    library: Literal["auto", "quanto", "bitsandbytes"] = "auto"  # auto: bitsandbytes on CUDA, else quanto


def _has_bitsandbytes() -> bool:
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return False
    return True


def library(model, wanted: str) -> str:
    """The library that quantises `model`: bitsandbytes needs the model on a CUDA device."""
    on_cuda = next(model.parameters()).device.type == "cuda"
    if wanted == "bitsandbytes" and not (on_cuda and _has_bitsandbytes()):
        raise ConfigError(NEEDS_BNB)
    if wanted == "auto":
        return "bitsandbytes" if on_cuda and _has_bitsandbytes() else "quanto"
    return wanted


def quantized(model, bits: int, lib: str = "quanto"):
    """A copy of `model` with every linear layer but the output head quantised to `bits`."""
    if lib == "bitsandbytes":
        return _bitsandbytes(model, bits)
    try:
        from optimum.quanto import freeze, qint4, qint8, quantize
    except ImportError:
        raise ConfigError("attack quantize needs optimum-quanto (pip install optimum-quanto)") from None
    _no_kernel_build()
    q = copy.deepcopy(model)
    quantize(q, weights={8: qint8, 4: qint4}[bits], exclude=["lm_head"])
    freeze(q)
    return q.eval()


def unpack(packed: torch.Tensor, bits: int) -> torch.Tensor:
    """optimum-quanto's un-packing of 4-bit (or 2-bit) codes stored in bytes, in PyTorch: the codes of
    the i-th place in every byte, (byte & (2^(bits(i+1)) - 1)) >> (bits i), concatenated place by place.
    It is the library's own reference implementation (`quanto::unpack`, default kernel); its CPU
    kernel computes the same bits in C++."""
    return torch.cat([(packed & (2 ** (bits * (i + 1)) - 1)) >> (bits * i) for i in range(8 // bits)]).to(torch.uint8)


def _no_kernel_build() -> None:
    """optimum-quanto dispatches int4 un-packing on a CPU to a C++ extension that it compiles on first
    use (about two and a half minutes on 2 cores, silent, in every new environment). Un-packing is a
    few bit operations on small tensors, so the harness gives the extension this PyTorch version (the
    same bits) instead of compiling it, unless it is already built."""
    try:
        from optimum.quanto.library.extensions import get_extension
        ext = get_extension("quanto_cpp")
    except (ImportError, KeyError):  # another optimum-quanto layout: it builds its kernel as it likes
        return
    if ext._lib is None:
        from types import SimpleNamespace
        ext._lib = SimpleNamespace(unpack=unpack)


def _bitsandbytes(model, bits: int):
    """bitsandbytes' layers in place of every linear layer but the head (CUDA only): NF4 for 4 bits,
    LLM.int8() for 8 (Dettmers et al. 2022: int8 weights, and the input features with an activation
    above the outlier threshold 6.0 multiplied in 16 bits, the decomposition that defines LLM.int8();
    threshold 0 would be plain int8); the weights are quantised when the new layers move to the GPU."""
    import bitsandbytes as bnb
    device = next(model.parameters()).device
    q = copy.deepcopy(model).cpu()
    for name, mod in list(q.named_modules()):
        for child_name, child in list(mod.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if not isinstance(child, torch.nn.Linear) or full.endswith("lm_head"):
                continue
            bias = child.bias is not None
            if bits == 4:
                new = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=bias,
                                        compute_dtype=child.weight.dtype, quant_type="nf4")
            else:
                new = bnb.nn.Linear8bitLt(child.in_features, child.out_features, bias=bias, has_fp16_weights=False,
                                          threshold=LLM_INT8_THRESHOLD)
            new.load_state_dict(child.state_dict())
            setattr(mod, child_name, new)
    return q.to(device).eval()


def weight_bits(model) -> dict[str, int]:
    """The bits of every quantised weight, by module name (what the attack actually did)."""
    out = {}
    for name, mod in model.named_modules():
        weight = getattr(mod, "weight", None)
        qtype = getattr(weight, "qtype", None)
        if qtype is not None:
            out[name] = qtype.bits
        elif type(weight).__name__ == "Params4bit":     # bitsandbytes NF4
            out[name] = 4
        elif type(weight).__name__ == "Int8Params":     # bitsandbytes LLM.int8()
            out[name] = 8
    return out


@register_attack("quantize")
class Quantize:
    summary = "weights quantised to 8 and 4 bits (optimum-quanto) [Zhang et al. 2025]"
    requires = ()  # any model of any family
    Config = QuantizeConfig
    seeded = False  # rounding is deterministic

    def check(self, cfg: QuantizeConfig, data: dict, source: str, track) -> None:
        """Before any compute: bitsandbytes, when asked for, can run here."""
        if cfg.library == "bitsandbytes" and not (torch.cuda.is_available() and _has_bitsandbytes()):
            raise ConfigError(NEEDS_BNB)

    def models(self, model, cfg: QuantizeConfig, ctx):
        lib = library(model, cfg.library)
        for b in cfg.bits:
            say(f"  quantize {getattr(ctx, 'who', 'the model')}: {b} bits with {LIBRARIES[lib]}")
            q = quantized(model, b, lib)
            q.attack_record = {"quant_library": {"quanto": f"optimum-quanto qint{b}",
                                                 "bitsandbytes": "bitsandbytes " + ("nf4" if b == 4 else "int8")}[lib]}
            yield f"{b}bit", q
