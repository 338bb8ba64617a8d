"""SISA's aggregated model: K constituent language models behind one model object.

The evaluator, the attacks and lm-eval's HFLM see an ordinary causal LM: `forward` returns logits,
`generate` decodes greedily, `save_pretrained` writes a folder that harness.models.load_model reads
back. The logits are log-probabilities of the aggregate next-token distribution:
- rule `prob` (default): the mean of the constituents' probabilities, log((1/K) sum_k p_k(v)) — SISA's
  aggregation of the constituents' predictions (Bourtoule et al. 2021) at every token;
- rule `logprob`: the normalised geometric mean, softmax((1/K) sum_k log p_k(v)).
Both are log-softmax outputs, so softmax(logits) is the aggregate distribution and cross-entropy on
them is its negative log-likelihood: every metric reads them as it reads one model's logits.
"""
from __future__ import annotations

import functools
import inspect
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

MANIFEST = "ensemble.json"


class AdapterView(torch.nn.Module):
    """One LoRA constituent: a named adapter of a PeftModel that all constituents share (one copy of the
    base weights in memory, not K), switched on for this constituent's forward pass."""

    def __init__(self, shared, name: str, source: str):
        super().__init__()
        object.__setattr__(self, "shared", shared)  # not a child: the Ensemble registers it once
        self.name, self.source = name, source
        self.config = shared.config

    def forward(self, **kwargs):
        self.shared.set_adapter(self.name)
        return self.shared(**kwargs)

    def save_pretrained(self, folder, **_) -> None:
        """The adapter's own files (as trained), loadable alone or by load_ensemble."""
        import shutil
        shutil.copytree(self.source, folder, dirs_exist_ok=True)


def shared_adapters(sources: list[str], names: list[str], load_base) -> list[AdapterView]:
    """K saved LoRA adapters on one base: a PeftModel with every adapter loaded, one view per adapter."""
    from peft import PeftModel
    spec = json.loads((Path(sources[0]) / "adapter_config.json").read_text())
    shared = PeftModel.from_pretrained(load_base(spec["base_model_name_or_path"]), sources[0], adapter_name=names[0])
    for src, name in zip(sources[1:], names[1:]):
        shared.load_adapter(src, adapter_name=name)
    shared.eval()
    return [AdapterView(shared, n, s) for n, s in zip(names, sources)]


class Ensemble(torch.nn.Module):
    def __init__(self, members: list, rule: str = "prob", names: list[str] | None = None):
        super().__init__()
        if rule not in ("prob", "logprob"):
            raise ValueError(f"ensemble rule: expected prob or logprob, got '{rule}'")
        self.members = torch.nn.ModuleList(members)
        shared = {id(m.shared): m.shared for m in members if isinstance(m, AdapterView)}
        self.shared = torch.nn.ModuleList(shared.values())  # the base the adapter views share, held once
        self.rule = rule
        self.names = names or [f"shard_{i}" for i in range(len(members))]
        self.config = members[0].config                       # what HFLM and the evaluator read
        self.generation_config = getattr(members[0], "generation_config", None)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def combine(self, logits: list[torch.Tensor]) -> torch.Tensor:
        logps = torch.stack([F.log_softmax(z.float(), -1) for z in logits])
        if self.rule == "prob":
            return torch.logsumexp(logps, 0) - math.log(len(logits))
        return F.log_softmax(logps.mean(0), -1)

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        from transformers.modeling_outputs import CausalLMOutputWithPast
        for k in ("use_cache", "past_key_values", "cache"):
            kwargs.pop(k, None)
        logits = self.combine([m(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **kwargs).logits
                               for m in self.members])
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1),
                                   ignore_index=-100)
        return CausalLMOutputWithPast(loss=loss, logits=logits)

    @torch.no_grad()
    def generate(self, input_ids, attention_mask=None, max_new_tokens: int = 20, pad_token_id: int | None = None,
                 eos_token_id=None, do_sample: bool = False, **_):
        """Greedy decoding of the aggregate distribution (left-padded prompts), each constituent with its
        own KV cache. Returns prompt + new tokens, padded after each sequence's end, as HF generate does."""
        if do_sample:
            raise ValueError("Ensemble.generate decodes greedily only")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        eos = {eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id or [])
        pad = pad_token_id if pad_token_id is not None else (min(eos) if eos else 0)
        mask = attention_mask.clone()
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        ids, caches = input_ids, [None] * len(self.members)
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        new = []
        for _ in range(max_new_tokens):
            last = []
            for k, m in enumerate(self.members):
                out = m(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                        **_cache_arg(m, caches[k]))
                caches[k] = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
                last.append(out.logits[:, -1])
            nxt = self.combine(last).argmax(-1).masked_fill(done, pad)
            new.append(nxt)
            done |= torch.isin(nxt, torch.tensor(sorted(eos), device=nxt.device)) if eos else done
            if bool(done.all()):
                break
            ids, pos = nxt[:, None], pos[:, -1:] + 1
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], 1)
        return torch.cat([input_ids, torch.stack(new, 1)], 1) if new else input_ids

    def tie_weights(self, *_, **__) -> None:
        """lm-eval ties weights of the model it is given: each constituent ties its own."""
        for m in self.members:
            if hasattr(m, "tie_weights"):
                m.tie_weights()

    def save_pretrained(self, folder, **_) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, m in zip(self.names, self.members):
            m.save_pretrained(folder / name)
        (folder / MANIFEST).write_text(json.dumps({"rule": self.rule, "members": self.names}, indent=1))


def _cache_arg(model, cache) -> dict:
    """The KV-cache keyword of this model's forward: `cache` (transformers >= 5.2x) or `past_key_values`."""
    inner = model.shared.get_base_model() if isinstance(model, AdapterView) else model  # peft forwards **kwargs
    return {_cache_name(type(inner)): cache}


@functools.lru_cache(maxsize=None)
def _cache_name(cls) -> str:
    return "cache" if "cache" in inspect.signature(cls.forward).parameters else "past_key_values"


def is_ensemble(ref: str) -> bool:
    return (Path(ref) / MANIFEST).is_file()


def load_ensemble(ref: str, load_one, load_base=None) -> Ensemble:
    """The ensemble saved in `ref`; load_one(folder) loads one constituent. Constituents saved as LoRA
    adapters share one base (load_base(path) loads it)."""
    spec = json.loads((Path(ref) / MANIFEST).read_text())
    folders = [str(Path(ref) / n) for n in spec["members"]]
    if load_base is not None and all((Path(f) / "adapter_config.json").is_file() for f in folders):
        members = shared_adapters(folders, spec["members"], load_base)
    else:
        members = [load_one(f) for f in folders]
    return Ensemble(members, spec["rule"], spec["members"])
