"""Quantisation attack: evaluate the unlearned model with its weights quantised.

Zhang et al. 2025 (*Catastrophic Failure of LLM Unlearning via Quantization*) found that unlearning by
small weight changes (gradient ascent, NPO with a utility term) can be undone by quantising: the
quantisation grid is coarser than the change, so the quantised unlearned model rounds back towards the
quantised target. Here every linear layer's weights except the output head are quantised per channel
group to `bits` (8: int8; 4: int4, group size 128), activations stay in full precision, with
optimum-quanto (a real quantisation library that runs on a CPU: `quantize` then `freeze`, so the
stored weights are the integer codes and their scales). The output head stays unquantised, as
bitsandbytes' and quanto's LLM recipes leave it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from harness.attacks import register_attack
from harness.config import ConfigError

BITS = (8, 4)


def _bits(v: list) -> str | None:
    return None if v and all(b in BITS for b in v) else "a non-empty list of 8 and/or 4"


@dataclass
class QuantizeConfig:
    bits: list[int] = field(default_factory=lambda: [8, 4], metadata={"check": _bits})


def quantized(model, bits: int):
    """A copy of `model` with every linear layer but the output head quantised to `bits`."""
    try:
        from optimum.quanto import freeze, qint4, qint8, quantize
    except ImportError:
        raise ConfigError("attack quantize needs optimum-quanto (pip install optimum-quanto)") from None
    q = copy.deepcopy(model)
    quantize(q, weights={8: qint8, 4: qint4}[bits], exclude=["lm_head"])
    freeze(q)
    return q.eval()


def weight_bits(model) -> dict[str, int]:
    """The bits of every quantised weight, by module name (what the attack actually did)."""
    out = {}
    for name, mod in model.named_modules():
        qtype = getattr(getattr(mod, "weight", None), "qtype", None)
        if qtype is not None:
            out[name] = qtype.bits
    return out


@register_attack("quantize")
class Quantize:
    summary = "weights quantised to 8 and 4 bits (optimum-quanto) [Zhang et al. 2025]"
    families = ("tofu", "wmdp", "muse")
    Config = QuantizeConfig

    def models(self, model, cfg: QuantizeConfig, ctx):
        for b in cfg.bits:
            yield f"{b}bit", quantized(model, b)
