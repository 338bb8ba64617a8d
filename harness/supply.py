"""What the loop computes for a loss: exactly the supplies the method declared, no more.

One forward pass per (model, batch) pair serves both the log-probs and the hidden states asked of it.
Reference quantities are computed without gradients, from the frozen copy or, under LoRA, from the
same network with its adapters switched off.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from harness.layers import decoder_layers
from harness.registry import Method
from harness.tensors import TokenLogProbs, answer_logprobs, collate


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
class Hidden:
    """Hidden states [B, T, D] at the output of one decoder layer; mask [B, T] marks real tokens."""
    states: torch.Tensor
    mask: torch.Tensor


def forward(model, batch: dict, logps: bool, keep_logits: bool, layer: int | None):
    """One pass; returns (TokenLogProbs or None, Hidden or None)."""
    captured = {}
    handle = None
    if layer is not None:
        layers = decoder_layers(model)
        if not -len(layers) <= layer < len(layers):
            raise ValueError(f"method_args.layer={layer} but the model has {len(layers)} decoder layers")
        handle = layers[layer].register_forward_hook(
            lambda mod, inp, out: captured.__setitem__("h", out[0] if isinstance(out, tuple) else out))
    try:
        lp = answer_logprobs(model, batch, keep_logits=keep_logits)
    finally:
        if handle is not None:
            handle.remove()
    hidden = Hidden(captured["h"], batch["attention_mask"].to(captured["h"].device)) if layer is not None else None
    return (lp if logps else None), hidden


@contextlib.contextmanager
def reference_view(model, ref):
    """The frozen start model, without gradients."""
    with torch.no_grad():
        if ref is not None:
            yield ref
        else:  # LoRA: the same network, adapters off
            with model.disable_adapter():
                yield model


def supply(method: Method, cfg, model, ref, batches: dict, pad_id: int) -> tuple[LossInputs, int, int]:
    """Compute the declared supplies. Returns inputs, forward tokens, backward tokens."""
    need = method.needs
    layer = getattr(cfg, "layer", None)
    vals: dict[str, TokenLogProbs | Hidden] = {}
    fwd = bwd = 0
    plan = [  # (batch, trained name, logits?, hidden name, reference name, ref logits?, ref hidden name)
        ("forget", "forget", "forget_logits" in need, "forget_hidden", "ref_forget", "ref_forget_logits" in need,
         None),
        ("retain", "retain", "retain_logits" in need, "retain_hidden", "ref_retain", "retain_logits" in need,
         "ref_retain_hidden"),
        ("idk", "idk", False, None, "ref_idk", False, None),
    ]
    for key, name, logits, hid, ref_name, ref_logits, ref_hid in plan:
        want = name in need or logits
        want_h = hid in need if hid else False
        want_ref = ref_name in need or ref_logits
        want_ref_h = ref_hid in need if ref_hid else False
        if not (want or want_h or want_ref or want_ref_h):
            continue
        batch = collate(batches[key], pad_id)
        n_tok = int(batch["attention_mask"].sum())

        def one_pass(m, lp_name, want_lp, keep, h_name, want_hidden):
            lp, h = forward(m, batch, want_lp, keep, layer if want_hidden else None)
            if want_lp:
                vals[lp_name] = lp
            if want_hidden:
                vals[h_name] = h

        if want or want_h:
            one_pass(model, name, want, logits, hid, want_h)
            fwd += n_tok
            bwd += n_tok
        if want_ref or want_ref_h:
            with reference_view(model, ref) as r:
                one_pass(r, ref_name, want_ref, ref_logits, ref_hid, want_ref_h)
            fwd += n_tok
    if "forget_group" in need:
        vals["forget_group"] = batches["forget"][0].group
    return LossInputs(method.name, vals), fwd, bwd
