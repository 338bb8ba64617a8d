"""LoRA adapters through peft, as a switch for every method (`adapter.kind=lora`)."""
from __future__ import annotations

from pathlib import Path

import torch

from harness.config import AdapterConfig, ConfigError


def unwrap(model):
    """The transformers model inside a peft wrapper, or the model itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def check(cfg: AdapterConfig) -> None:
    if cfg.kind not in ("none", "lora"):
        raise ConfigError(f"config key 'adapter.kind': expected none or lora, got '{cfg.kind}'")
    if cfg.save not in ("merged", "adapter"):
        raise ConfigError(f"config key 'adapter.save': expected merged or adapter, got '{cfg.save}'")
    if cfg.rank < 1 or cfg.alpha <= 0 or not cfg.target_modules:
        raise ConfigError("adapter: rank >= 1, alpha > 0 and a non-empty target_modules list are required")


def apply(model, cfg: AdapterConfig, seed: int):
    """Wrap `model` with fresh LoRA adapters (B = 0, so the wrapped model starts identical)."""
    if cfg.kind == "none":
        return model
    from peft import LoraConfig, get_peft_model
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [m for m in cfg.target_modules if m not in names]
    if missing:
        raise ConfigError(f"adapter.target_modules: {missing} not found in the model's modules")
    torch.manual_seed(seed)
    return get_peft_model(model, LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                            target_modules=list(cfg.target_modules), task_type="CAUSAL_LM"))


def save(model, folder: Path, cfg: AdapterConfig) -> None:
    """A plain model folder, or (adapter.save=adapter) the adapter alone, loadable by `eval`."""
    if hasattr(model, "merge_and_unload") and cfg.save == "merged":
        model = model.merge_and_unload()
    model.save_pretrained(folder)
