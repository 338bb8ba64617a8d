"""Where things are inside a causal LM: the model inside a peft wrapper, its list of decoder layers.

The lowest layer of the model code: it imports nothing from the harness, so the FLOP meter, the label
log-probabilities, the loss supply and the adapters can all find layers without importing each other."""
from __future__ import annotations


def unwrap(model):
    """The transformers model inside a peft wrapper, or the model itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def decoder_layers(model):
    """The list of decoder layers of a causal LM (plain or wrapped by peft)."""
    inner = unwrap(model)
    layers = getattr(getattr(inner, "model", inner), "layers", None)
    if layers is None:
        raise ValueError(f"cannot find decoder layers in {type(inner).__name__} (expected .model.layers)")
    return layers


def layer_list(model) -> list:
    """decoder_layers as a list, or [] for a model without a `layers` list (a bare module, an ensemble)."""
    try:
        return list(decoder_layers(model))
    except ValueError:
        return []
