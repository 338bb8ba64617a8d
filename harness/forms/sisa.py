"""Exact unlearning by sharding: SISA (Bourtoule et al. 2021, *Machine Unlearning*).

The target's fine-tuning data is split into K shards of whole authors (TOFU: an author's QA rows and
their extra phrasings always go together) or whole documents (the document track: a document's token
windows go together); the base corpus that fine-tuning replays is dealt round-robin across shards,
so K constituents cost one target's training between them. One constituent per shard
is fine-tuned from the base with the target's recipe: a full small model on the default world, a LoRA
adapter on the shared base for a real model (`constituent=lora`). With `slices` S > 1 each shard's
authors are dealt into S slices and trained incrementally: stage s fine-tunes the checkpoint of stage
s-1 on slices 0..s for ceil(E/S) epochs, and every stage is checkpointed.

Prediction aggregates the constituents (harness/ensemble.py: the mean of their next-token
distributions by default), one model object for the evaluator, the attacks and lm-eval.

An unlearning request (the task's forget split) retrains only the shards that held a forget author,
from the last checkpoint before the first slice that holds one, on that shard's data without the
forget authors. Forgetting is exact by construction: no constituent of the result was trained on a
forget item (each constituent's training questions, or document hashes, are listed in the run's
model folder, shards.json).
The run's unlearning cost is that retraining (wall, FLOPs), compared with retraining the whole model
(the retain model), as for every method. K = 1 is retraining: its single constituent is trained exactly
as the target and, after the request, exactly as the retain model (same examples, order and seed, at
run seed 0).
The run seed deals the authors into shards and seeds each constituent's training (forms.form_seed:
at run seed 0 the world seed, as the target's training), so a grid's seeds are replicates of the
whole procedure.
The original constituents are cached (.cache/models/sisa-<hash>), shared by every task and request.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, replace
from types import SimpleNamespace
from pathlib import Path
from typing import Literal

from harness import models as MD
from harness import stage
from harness.claim import Busy, build_once
from harness.config import ConfigError
from harness.ensemble import Ensemble, shared_adapters
from harness.forms import Produced, form_seed, register_form, seed_key, target_training
from harness.io import portable, stable_hash, write_json_atomic
from harness.progress import say
from harness.schema import num
from harness.train import finetune


@dataclass
class SisaConfig:
    shards: int = num(4, ge=1)
    slices: int = num(1, ge=1)
    aggregate: Literal["prob", "logprob"] = "prob"  # mean of probabilities, or of log-probabilities
    constituent: Literal["auto", "full", "lora"] = "auto"  # auto: full models on the default base, else LoRA
    items_per_author: int = num(0, ge=0, note="0 = the world's, or TOFU's 20")


def assign(n_units: int, shards: int, slices: int, seed: int) -> list[list[list[int]]]:
    """plan[shard][slice] = author indices: authors shuffled with the seed, dealt round-robin to shards,
    then each shard's authors dealt round-robin to its slices. Every author is in exactly one place."""
    order = list(range(n_units))
    random.Random(f"sisa-{seed}").shuffle(order)
    plan = [[[] for _ in range(slices)] for _ in range(shards)]
    for i, u in enumerate(order):
        k = i % shards
        j = (i // shards) % slices
        plan[k][j].append(u)
    return [[sorted(s) for s in shard] for shard in plan]


def _stage_examples(plan_k, upto: int, units, replay_share: list[int], forget: set[int]) -> list[int]:
    """Example indices of slices 0..upto of one shard, without the `forget` authors, in the target's order
    (replay rows dealt across slices as well)."""
    idx = [e for j in range(upto + 1) for u in plan_k[j] if u not in forget for e in units[u].examples]
    s = len(plan_k)
    idx += [e for i, e in enumerate(replay_share) if i % s <= upto]
    return sorted(idx)


@register_form("sisa")
class Sisa:
    kind = "exact"
    summary = ("exact unlearning: K constituents on disjoint author (or document) shards; a request retrains "
               "the shards it touches")
    requires = ("units",)  # the family's fine-tuning data cut into whole units (its track's `units`)
    Config = SisaConfig

    def label(self, cfg: SisaConfig) -> str:
        return f"sisa_k{cfg.shards}" + (f"s{cfg.slices}" if cfg.slices > 1 else "") + \
            ("_lora" if cfg.constituent == "lora" else "")

    def seeded(self, cfg: SisaConfig) -> bool:
        return True  # the run seed deals the shards and seeds each constituent's training

    def check(self, cfg: SisaConfig, r, data: dict, source: str) -> None:
        if r.task.requests:
            raise ConfigError(f"method sisa: task {r.task.name} lists sequential requests; SISA takes one forget split "
                              f"(each request would retrain its shards again: run one task per request)")
        if r.cfg.model.target or r.cfg.model.retain:
            raise ConfigError("method sisa trains its own constituents from model.base: model.target and "
                              "model.retain do not apply")
        U = r.track.units
        n = U.count(r.task, source, U.per(cfg.items_per_author, source), "method sisa")
        what = U.name
        if cfg.shards > n:
            raise ConfigError(f"method sisa: shards={cfg.shards} but the fine-tuning data has {n} {what} "
                              f"(a shard holds whole {what})")
        if cfg.slices * cfg.shards > n:
            raise ConfigError(f"method sisa: shards x slices = {cfg.shards * cfg.slices} but the fine-tuning data has "
                              f"{n} {what} (each slice needs one)")

    def _setup(self, ctx) -> SimpleNamespace:
        """Everything both prepare and produce need: the examples, the authors, the shard plan, and
        where the original constituents are cached (keyed by all that made them)."""
        r, cfg = ctx.run, ctx.run.form_cfg
        rc, source = r.cfg, ctx.paths["source"]
        lora = cfg.constituent == "lora" or (cfg.constituent == "auto" and rc.model.base != "default")
        U = r.track.units
        examples, units, replay = U.build(source, r.task.splits.model_splits("target"), ctx.fmt,
                                          U.per(cfg.items_per_author, source), rc.model.finetune.replay,
                                          "method sisa")
        seed = form_seed(rc.world.seed, rc.seed, "sisa")  # the shard plan's and constituent k's (seed + k)
        plan = assign(len(units), cfg.shards, cfg.slices, seed)
        base = ctx.paths["base"]
        key = stable_hash({"v": MD.TRAIN_FORMAT_VERSION, "base": base, "plan": plan, "lora": lora,
                           "data": stable_hash([(e.prompt, e.answer) for e in examples]),
                           "recipe": vars(rc.model.finetune), "seed": rc.world.seed, **seed_key(rc.seed)})
        return SimpleNamespace(cfg=cfg, rc=rc, lora=lora, examples=examples, units=units, plan=plan, base=base,
                               seed=seed,
                               shares=[replay[k::cfg.shards] for k in range(cfg.shards)],
                               root=MD.cache_root() / "models" / f"sisa-{key}", trainer=_Trainer(ctx, examples, lora))

    def _originals(self, st, skip_busy: bool = False) -> None:
        """The original constituents, every stage of every shard, cached and shared by all requests.
        skip_busy (a grid worker preparing ahead): a shard another process is training is left to it."""
        cfg = st.cfg
        for k in range(cfg.shards):
            for s in range(cfg.slices):
                out = st.root / f"shard_{k}" / f"stage_{s}"
                prev = str(st.root / f"shard_{k}" / f"stage_{s - 1}") if s else st.base
                idx = _stage_examples(st.plan[k], s, st.units, st.shares[k], set())
                try:
                    build_once(out, out / MD.META, lambda o=out, p=prev, i=idx, k=k, s=s: st.trainer.train(
                        o, p, i, st.seed + k, cfg.slices,
                        f"sisa constituent {k + 1}/{cfg.shards} stage {s + 1}"))
                except Busy:
                    if not skip_busy:
                        raise
                    break  # this shard's later stages need this one

    def prepare(self, ctx) -> None:
        """Train the original constituents ahead of the run (grid workers share the shards)."""
        self._originals(self._setup(ctx), skip_busy=True)

    def produce(self, ctx) -> Produced:
        r = ctx.run
        st = self._setup(ctx)
        self._originals(st)
        cfg, units, plan, shares, base, root, trainer = (st.cfg, st.units, st.plan, st.shares, st.base,
                                                         st.root, st.trainer)
        original = _cost(root, cfg)
        # the request: retrain the shards that held a forget author, from the checkpoint before it
        asked = r.track.units.keys(ctx.data["forget"])
        gone = {u for u, unit in enumerate(units) if unit.keys & asked}
        found = set().union(*(units[u].keys for u in gone)) if gone else set()
        if asked - found:
            raise ConfigError(f"method sisa: {len(asked - found)} forget items are not in the target's training "
                              f"data: the shards cannot hold them")
        sources, shards, spent = [], [], {"unlearn_s": 0.0, "steps": 0, "tokens_backward": 0, "flops_forward": 0,
                                          "flops_backward": 0}
        work = stage.stage_dir(r.folder) / "sisa"  # removed with the run's staging area once the folder is written
        for k in range(cfg.shards):
            first = next((s for s in range(cfg.slices) if set(plan[k][s]) & gone), None)
            last = root / f"shard_{k}" / f"stage_{cfg.slices - 1}"
            if first is None:
                sources.append(str(last))
                trained = _stage_examples(plan[k], cfg.slices - 1, units, shares[k], set())
            else:
                say(f"  sisa: retraining shard {k + 1}/{cfg.shards} from stage {first} (forget authors "
                    f"{sorted(set(u for j in plan[k] for u in j) & gone)})")
                prev = str(root / f"shard_{k}" / f"stage_{first - 1}") if first else base
                for s in range(first, cfg.slices):
                    out = work / f"shard_{k}" / f"stage_{s}"
                    idx = _stage_examples(plan[k], s, units, shares[k], gone)
                    stats = trainer.train(out, prev, idx, st.seed + k, cfg.slices,
                                          f"sisa retrain {k + 1} stage {s + 1}")
                    for a, b in (("unlearn_s", "seconds"), ("steps", "steps"), ("tokens_backward", "tokens")):
                        spent[a] += stats[b]
                    spent["flops_forward"] += stats["flops_forward"]
                    spent["flops_backward"] += stats["flops_backward"]
                    prev = str(out)
                sources.append(prev)
                trained = idx
            shards.append({"shard": k, "authors": sorted(u for j in plan[k] for u in j), "retrained": first is not None,
                           "from_stage": first, "n_examples": len(trained),
                           "trained_on": r.track.units.shown(_keys(trained, units))})
        names = [f"shard_{k}" for k in range(cfg.shards)]
        members = shared_adapters(sources, names, trainer.load) if st.lora else [trainer.load(s) for s in sources]
        model = Ensemble(members, cfg.aggregate, names)
        spent["tokens_forward"] = spent["tokens_backward"]
        affected = [s["shard"] for s in shards if s["retrained"]]
        spent["trainable_params"] = sum(_trained_params(members[k], st.lora) for k in affected)
        info = {"shards": cfg.shards, "slices": cfg.slices, "aggregate": cfg.aggregate, "constituent":
                "lora" if st.lora else "full", "retrained_shards": affected, "forget_authors": sorted(gone),
                "constituents": portable(root),  # '<cache>/models/sisa-...': a moved results folder still says it
                "train_s": original["seconds"], "train_flops": original["flops"],
                **_vs_target(ctx.paths, original)}

        def save(folder: Path) -> None:
            model.save_pretrained(folder)
            write_json_atomic(folder / "shards.json", shards)
        note = f"exact: {len(affected)} of {cfg.shards} shards retrained"
        return Produced(model, ctx.fmt, compute=spent, info=info, note=note, save=save)


def _trained_params(member, lora: bool) -> int:
    """Parameters a retraining of this constituent trained: the whole model, or its LoRA adapter."""
    if lora:
        return sum(p.numel() for n, p in member.shared.named_parameters() if f".{member.name}." in n and "lora_" in n)
    return sum(p.numel() for p in member.parameters())


def _keys(idx: list[int], units: list) -> set:
    """The keys of the units among example indices `idx` (an author's phrasings share its questions)."""
    chosen = set(idx)
    return {q for u in units if chosen & set(u.examples) for q in u.keys}


class _Trainer:
    """Fine-tunes one constituent stage with the target's recipe and loads constituents back."""

    def __init__(self, ctx, examples: list, lora: bool):
        self.ctx, self.examples, self.lora = ctx, examples, lora
        self.rc = ctx.run.cfg

    def load(self, ref: str):
        return MD.load_model(ref, self.rc.model.dtype, self.rc.model.device)

    def train(self, out: Path, start: str, idx: list[int], seed: int, slices: int, desc: str) -> dict:
        from harness import adapters
        m = self.rc.model
        recipe = replace(m.finetune, epochs=max(1, math.ceil(m.finetune.epochs / slices)))
        model = self.load(start)
        if self.lora and not hasattr(model, "peft_config"):
            model = adapters.apply(model, replace(self.rc.adapter, kind="lora", save="adapter"), seed)
        elif self.lora:  # a later stage: the saved adapter loads frozen; train it on
            for n, p in model.named_parameters():
                p.requires_grad_("lora_" in n)
        t0 = time.perf_counter()
        stats = finetune(model, [self.examples[i] for i in idx], recipe, seed, MD.pad_id(self.ctx.tok), desc,
                         self.ctx.progress)
        stats["seconds"] = time.perf_counter() - t0
        MD.save_trained(out, model, self.ctx.tok, {"role": "sisa", "stage_of": portable(start), "n_examples": len(idx),
                                                   "train": stats})
        return stats


def _cost(root: Path, cfg: SisaConfig) -> dict:
    """Wall seconds and FLOPs of training the original constituents (every stage of every shard)."""
    import json
    total = {"seconds": 0.0, "flops": 0}
    for k in range(cfg.shards):
        for s in range(cfg.slices):
            t = json.loads((root / f"shard_{k}" / f"stage_{s}" / MD.META).read_text())["train"]
            total["seconds"] += t["seconds"]
            total["flops"] += t["flops"]
    return total


def _vs_target(paths: dict, original: dict) -> dict:
    """The constituents' training cost against the monolithic target's (both trained by the harness)."""
    t = target_training(paths)
    if t is None:
        return {}
    return {"target_train_s": t["seconds"],
            "train_vs_target": original["flops"] / t["flops"] if t.get("flops") else None}
