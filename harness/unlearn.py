"""The unlearning loop: one function, read top to bottom.

Forget batches drive the loop; each is paired with the next retain batch (cycled) when the method asks
for retain data. The method sees only what it declared (`needs`), computed here (harness/supply.py).
No Trainer subclass: an upstream signature change cannot break every method at once.
Launched on several processes, every process draws the same global batches and works on its own part
of each; the summed gradients make the global batch's step (harness/distributed.py).
"""
from __future__ import annotations

import copy
import math
import re
import time
from dataclasses import dataclass, field

import torch

from harness import adapters, sharded
from harness import distributed as dist
from harness.compiled import checkpointed, compiled_layers
from harness.config import UnlearnConfig
from harness.meter import FlopMeter
from harness.progress import bar
from harness.prompts import Encoded
from harness.registry import Method
from harness.supply import supply


@dataclass
class UnlearnStats:
    steps: int = 0
    tokens_forward: int = 0    # tokens through any forward pass (trained and reference)
    tokens_backward: int = 0   # tokens through the trained model's backward pass
    seconds: float = 0.0       # the whole loop, the method's init hook (LoKU's Fisher pass) included
    trainable_params: int = 0
    flops_forward: int = 0     # counted by harness/meter.py: matmuls that actually ran ...
    flops_backward: int = 0    # ... and the gradients that were actually computed
    log: list = field(default_factory=list)
    requests: list = field(default_factory=list)  # sequential requests: the numbers after each
    curve: list = field(default_factory=list)     # its points (kept here so a staged run keeps them)
    curve_info: dict = field(default_factory=dict)  # its rule, chosen step and cost, for compute.json
    processes: int = 1         # that unlearned together (torchrun / accelerate launch); counts are their sum
    base_changed: list = field(default_factory=list)  # under LoRA: frozen parameters the init hook changed


def add_stats(total: UnlearnStats | None, st: UnlearnStats) -> UnlearnStats:
    """Statistics of requests run one after another: counts add up, the log continues its step count,
    trainable parameters are the largest of any request."""
    if total is None:
        return st
    log = total.log + [{**e, "step": e["step"] + total.steps} for e in st.log]
    return UnlearnStats(steps=total.steps + st.steps, tokens_forward=total.tokens_forward + st.tokens_forward,
                        tokens_backward=total.tokens_backward + st.tokens_backward,
                        seconds=total.seconds + st.seconds,
                        trainable_params=max(total.trainable_params, st.trainable_params),
                        flops_forward=total.flops_forward + st.flops_forward,
                        flops_backward=total.flops_backward + st.flops_backward, log=log,
                        processes=max(total.processes, st.processes),
                        base_changed=total.base_changed + [n for n in st.base_changed if n not in total.base_changed])


class Diverged(RuntimeError):
    """The loss became NaN or infinite. Carries the stats up to that step (log, steps, tokens, FLOPs,
    seconds), so the run folder records what was spent before it diverged; the grid goes on."""

    def __init__(self, message: str, stats: UnlearnStats):
        super().__init__(message)
        self.stats = stats


def _index_batches(n: int, size: int, gen: torch.Generator):
    order = torch.randperm(n, generator=gen).tolist()
    for i in range(0, n, size):
        yield order[i:i + size]


def pack_by_tokens(items: list[Encoded], members: list[int], budget: int) -> list[list[int]]:
    """Token-budget batches of `members` (indices into items): sorted by length, packed greedily so that
    a batch's padded size (its count x its longest sequence) stays within `budget` tokens; a sequence
    longer than the budget is a batch of its own. Fixed for a run: epochs shuffle the batches' order."""
    order = sorted(members, key=lambda i: (len(items[i].prompt) + len(items[i].answer), i))
    out, cur, longest = [], [], 0
    for i in order:
        n = len(items[i].prompt) + len(items[i].answer)
        if cur and (len(cur) + 1) * max(longest, n) > budget:
            out.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    return out + ([cur] if cur else [])


def batches_per_epoch(items: list[Encoded], size: int, budget: int = 0) -> int:
    groups = {e.group for e in items}
    if budget:
        return sum(len(pack_by_tokens(items, [i for i, e in enumerate(items) if e.group == g], budget)) for g in groups)
    return sum(math.ceil(sum(e.group == g for e in items) / size) for g in groups)


def _forget_batches(items: list[Encoded], size: int, gen: torch.Generator, budget: int = 0):
    """One epoch of forget batches. With one group (every task but a multi-corpus hazard task) this is
    a shuffled pass. With several (e.g. the bio and cyber corpora), batches never mix groups and
    alternate between them round-robin, as the RMU paper's code alternates its corpora. With a token
    budget (unlearn.batch_tokens), the batches are pack_by_tokens' in a shuffled order."""
    groups = sorted({e.group for e in items})
    if budget:
        queues = {}
        for g in groups:
            packed = pack_by_tokens(items, [i for i, e in enumerate(items) if e.group == g], budget)
            queues[g] = [packed[j] for j in torch.randperm(len(packed), generator=gen).tolist()]
        yield from _round_robin(queues, groups)
        return
    if len(groups) == 1:
        yield from _index_batches(len(items), size, gen)
        return
    members = {g: [i for i, e in enumerate(items) if e.group == g] for g in groups}
    queues = {g: [[members[g][j] for j in b] for b in _index_batches(len(members[g]), size, gen)] for g in groups}
    yield from _round_robin(queues, groups)


def _round_robin(queues: dict, groups: list):
    """The groups' batches in turn, one from each group that has any left, until none has."""
    while any(queues.values()):
        for g in groups:
            if queues[g]:
                yield queues[g].pop(0)


def _cycle(n: int, size: int, gen: torch.Generator):
    while True:
        yield from _index_batches(n, size, gen)


def is_peft(model) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


def make_reference(model, method: Method):
    """The frozen start model: a copy for full fine-tuning; None under LoRA, where the reference is
    the same network with its adapters switched off (no second copy in memory)."""
    if not method.needs_reference or is_peft(model):
        return None
    return copy.deepcopy(model).eval().requires_grad_(False)


def select_trainable(model, method: Method, method_cfg) -> list[torch.nn.Parameter]:
    """Under LoRA, peft has already frozen all but the adapters. Otherwise every parameter trains,
    unless the method names a subset (RMU: some MLP down-projections)."""
    if method.trainable is not None and not is_peft(model):
        pattern = re.compile(method.trainable(method_cfg))
        for name, p in model.named_parameters():
            p.requires_grad_(bool(pattern.search(name)))
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError(f"method '{method.name}': no parameter name matches '{pattern.pattern}'")
    return [p for p in model.parameters() if p.requires_grad]


def unlearn(model, method: Method, method_cfg, forget: list[Encoded], retain: list[Encoded],
            cfg: UnlearnConfig, seed: int, pad_id: int, progress: bool = True,
            idk: list[Encoded] | None = None, reference=None, curve=None) -> UnlearnStats:
    """Run `method` on `model` in place. cfg.lr and cfg.epochs must already be resolved.
    `idk[i]` is a refusal answer to forget question i (for methods that declare 'idk').
    `curve` (harness/curves.py Recorder): measures the curve and, under a rule other than `last`, leaves
    the model at the chosen step; its seconds and FLOPs are kept out of the unlearning cost."""
    if not forget:
        raise ValueError("unlearn: the forget set is empty")
    needs_retain = any("retain" in n for n in method.needs)
    if needs_retain and not retain:
        raise ValueError(f"unlearn: method '{method.name}' needs retain data but the retain set is empty")
    if method.needs & {"idk", "ref_idk"} and (not idk or len(idk) != len(forget)):
        raise ValueError(f"unlearn: method '{method.name}' needs one refusal answer per forget item")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    dist.barrier()  # several processes: the clock starts once every one has its model loaded
    t0 = time.perf_counter()  # the reference copy is part of a method's cost
    ref = reference if reference is not None else make_reference(model, method)
    stats = UnlearnStats(processes=dist.world())
    curve_s0 = curve.seconds if curve else 0.0  # the curve's seconds are not the method's
    diverged = None
    with checkpointed(model, cfg.checkpoint), compiled_layers(model, cfg.compile) as units, \
            FlopMeter(model, ref, units=units) as meter:
        try:
            _loop(model, ref, method, method_cfg, forget, retain, idk, cfg, gen, pad_id, progress, stats, curve, meter)
        except Diverged as e:  # every process diverges at the same step (the check reads the global loss)
            diverged = e
        finally:
            # += : _loop has put minus the seconds of its own bookkeeping there (_init's checksums)
            stats.seconds += time.perf_counter() - t0 - ((curve.seconds - curve_s0) if curve else 0.0)
            stats.flops_forward, stats.flops_backward = meter.forward, meter.backward
            model.eval()
    dist.sum_counts(stats)  # several processes: the whole run's tokens and FLOPs
    if diverged is not None:
        raise diverged
    return stats


def _init(model, method, forget, retain, method_cfg, pad_id, stats) -> None:
    """The method's set-up hook. Under LoRA, the frozen parameters it changes (LoKU moves part of each
    adapted weight into its adapter) belong to the unlearned model as much as the adapters do: their
    names go into stats.base_changed, so the stage and an adapter saved alone keep them
    (harness/adapters.py). The checksums that find them are the harness's, not the method's: their
    seconds are left out of the unlearning time (FLOPs: they multiply no matrix)."""
    watch = is_peft(model)
    if watch:
        t0 = time.perf_counter()
        before = adapters.frozen_sums(model)
        spent = time.perf_counter() - t0
    method.init(model, forget, retain, method_cfg, pad_id)
    if watch:
        t0 = time.perf_counter()
        stats.base_changed = adapters.changed_since(model, before)
        stats.seconds -= spent + time.perf_counter() - t0


def _loop(model, ref, method, method_cfg, forget, retain, idk, cfg, gen, pad_id, progress, stats, curve,
          meter) -> None:
    if method.init is not None:  # inside the timed and metered region: its passes are part of the cost
        _init(model, method, forget, retain, method_cfg, pad_id, stats)
    params = select_trainable(model, method, method_cfg)
    stats.trainable_params = sum(p.numel() for p in params)
    several = dist.world() > 1
    if several:  # every process starts from rank 0's weights, as DDP does
        dist.broadcast_(list(model.parameters()))
    shards = sharded.active(cfg)
    if shards:  # unlearn.fsdp: from here on each process holds its shard of every parameter (harness/sharded.py)
        params = sharded.shard(model, ref)
    if curve:  # after the set-up hook: LoKU moves weights into its adapters (same function, other params)
        curve.begin(model, meter, params)
    # fused AdamW (one kernel for every parameter) on CUDA; the CPU keeps the loop every number was made with
    fused = not shards and bool(params) and all(p.is_cuda and p.is_floating_point() for p in params)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused or None)
    per_epoch = batches_per_epoch(forget, cfg.batch_size, cfg.batch_tokens)
    total = cfg.epochs * per_epoch
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    warm = max(1, cfg.warmup_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm))
    needs_retain = any("retain" in n for n in method.needs)
    retain_iter = _cycle(len(retain), cfg.retain_batch_size, gen) if needs_retain else None
    model.train()
    pbar = bar(total, f"unlearn {method.name}", progress)
    while stats.steps < total:
        for fi in _forget_batches(forget, cfg.batch_size, gen, cfg.batch_tokens):
            ri = next(retain_iter) if retain_iter else None
            fi, ri, share = dist.shard(fi, ri)  # this process's part of the global batch (all of it in one)
            batches = {"forget": [forget[i] for i in fi],
                       "retain": [retain[i] for i in ri] if ri else None,
                       "idk": [idk[i] for i in fi] if idk else None}
            inputs, fwd, bwd = supply(method, method_cfg, model, ref, batches, pad_id)
            stats.tokens_forward += fwd
            loss, logs = method.loss(inputs, method_cfg)
            whole = loss
            if several:  # the global batch's loss and logs, the same on every process
                whole, logs = dist.global_loss(loss, logs, share)
            if not torch.isfinite(whole):
                pbar.close()
                raise Diverged(f"loss became {whole.item()} at step {stats.steps}", stats)
            opt.zero_grad(set_to_none=True)
            if several:  # this process's share of the global batch (FSDP then averages: scaled to a sum)
                loss = loss * share * (sharded.loss_scale() if shards else 1.0)
            loss.backward()
            if several and not shards:  # the share-weighted sum: the global batch's gradient, before clipping
                dist.sum_grads(params)  # (a sharded model's gradients were reduce-scattered by FSDP)
            if cfg.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            opt.step()
            sched.step()
            stats.steps += 1
            stats.tokens_backward += bwd
            stats.log.append({"step": stats.steps, "loss": whole.item(), **logs})
            pbar.update(1)
            pbar.set_postfix(loss=f"{whole.item():.3f}", refresh=False)
            if curve:
                curve.after_step(model, meter, params, stats.steps, total)
            if stats.steps >= total:
                break
    pbar.close()
    if curve:
        curve.end(params, stats.steps)
    if several and not shards and cfg.curve_every and cfg.select != "last":  # rank 0 alone measured and chose
        dist.broadcast_(params)
