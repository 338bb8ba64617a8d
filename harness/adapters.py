"""LoRA adapters through peft, as a switch for every method (`adapter.kind=lora`).

An adapter holds only its low-rank matrices, but a method's set-up may also change the frozen base
weights (LoKU subtracts its initial adapter product from them). Those weights are part of the
unlearned model: unlearn() finds them (`frozen_sums` before and after the set-up hook), the stage
keeps them, and an adapter saved alone (`adapter.save=adapter`) is written with them beside it in
BASE_WEIGHTS, which `load_model` applies after loading the adapter.
"""
from __future__ import annotations

from pathlib import Path

import torch

from harness.config import AdapterConfig, ConfigError

BASE_WEIGHTS = "base_weights.safetensors"  # frozen weights the unlearning changed (beside the adapter)
_CHUNK = 1 << 24        # bytes summed at a time: bounds the checksum's temporaries (8 bytes per byte)
_PRIME = 65521          # the positional weights are 1..65521: a byte (< 256) times one stays < 2^24


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


def is_adapter(name: str) -> bool:
    return "lora_" in name


@torch.no_grad()
def _checksum(t: torch.Tensor) -> tuple[int, int]:
    """Two sums over the raw bytes of `t`, computed where `t` lives: the plain sum and a positional one
    (byte i weighted by 1 + (i * 40503 mod 65521)). Integer arithmetic that never overflows (each chunk's
    sums stay below 2^48), so a change to any one byte always changes the positional sum, and a change
    that left both sums equal would need exact cancellation across bytes. Bytes, not values: -0.0 and
    0.0, or two NaNs, are told apart too."""
    flat = t.detach().reshape(-1).contiguous().view(torch.uint8)
    plain = positional = 0
    for start in range(0, flat.numel(), _CHUNK):
        b = flat[start:start + _CHUNK].to(torch.int64)
        w = (torch.arange(start, start + b.numel(), device=b.device, dtype=torch.int64) * 40503) % _PRIME + 1
        plain += int(b.sum())
        positional += int((b * w).sum())
    return plain, positional


def frozen_sums(model) -> dict[str, tuple]:
    """A checksum of every non-adapter parameter (and its storage's address, so a parameter replaced
    by another tensor counts as changed). Checksums rather than a copy: no second model in memory, no
    transfer off the GPU; a version counter would miss writes through `.data`."""
    return {n: (p.data_ptr(), _checksum(p)) for n, p in model.named_parameters() if not is_adapter(n)}


def changed_since(model, before: dict[str, tuple]) -> list[str]:
    """Names of the non-adapter parameters that differ from `before` (frozen_sums of the same model)."""
    now = frozen_sums(model)
    return [n for n, s in now.items() if before.get(n) != s]


def base_weights(model, names) -> dict[str, torch.Tensor]:
    """The named (changed) frozen parameters, on the CPU: what an adapter alone does not hold."""
    params = dict(model.named_parameters())
    return {n: params[n].detach().cpu().contiguous().clone() for n in names}


def restore_base(model, weights: dict[str, torch.Tensor], where: str) -> None:
    """Copy saved frozen weights into `model` (the same architecture and adapters)."""
    params = dict(model.named_parameters())
    unknown = [n for n in weights if n not in params]
    if unknown:
        raise ConfigError(f"{where}: weights {unknown[:3]} do not fit this model")
    with torch.no_grad():
        for n, t in weights.items():
            params[n].copy_(t.to(params[n].device, params[n].dtype))


def save(model, folder: Path, cfg: AdapterConfig, base_changed=()) -> None:
    """A plain model folder (adapters merged into the weights, changed frozen ones included), or
    (adapter.save=adapter) the adapter alone with the frozen weights the unlearning changed
    (`base_changed`, UnlearnStats.base_changed) in BASE_WEIGHTS: both loadable by `eval`."""
    if hasattr(model, "merge_and_unload") and cfg.save == "merged":
        model = model.merge_and_unload()
    model.save_pretrained(folder)
    if hasattr(model, "peft_config") and base_changed:
        from safetensors.torch import save_file
        save_file(base_weights(model, base_changed), str(Path(folder) / BASE_WEIGHTS))


def load_base(model, folder: Path) -> None:
    """An adapter folder's BASE_WEIGHTS, when it has them, into the loaded base + adapter."""
    path = Path(folder) / BASE_WEIGHTS
    if path.is_file():
        from safetensors.torch import load_file
        restore_base(model, load_file(str(path)), str(path))
