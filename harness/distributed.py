"""One run across several processes: `torchrun --nproc_per_node N -m harness run ...` (or
`accelerate launch --multi_gpu --num_processes N -m harness run ...`). docs/distributed.md has the rules.

A launcher sets WORLD_SIZE, RANK and LOCAL_RANK in each process's environment; with WORLD_SIZE > 1 the
process group is set up at the start of a run (gloo on a CPU, nccl on CUDA, each process on
cuda:LOCAL_RANK). In one process everything here is a no-op and nothing is imported beyond torch.

The split of work (harness/unlearn.py, harness/runs.py):
- rank 0 alone claims the run, prepares the models and tells the others, once per run, whether to
  unlearn along (`Word`, `hear`): a skipped, claimed or failed run stops every process, never hangs one;
- every process draws the same global forget and retain batches from the same seeded generator (the
  batches of a one-process run) and takes its own strided part of each (`shard`): items r, r+W, ...;
- each process's loss is weighted by its share of the forget batch, the gradients are summed across
  processes before clipping and the optimizer step, so the step is that of the global batch: the
  effective batch and the learning rate do not depend on the number of processes;
- the methods take their batch means with `batch_mean` (the global batch's count, not the part's), so
  the summed loss is exactly the global batch's however a batch splits, token means included;
- rank 0 alone evaluates and writes the run folder; the others exit once unlearning is done.
"""
from __future__ import annotations

import atexit
import datetime
import os

import torch

_STATE = {"ready": False, "share": 1.0, "device": "cpu"}


def world() -> int:
    """Processes of this run (1 unless launched by torchrun / accelerate with more than one)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def launched() -> bool:
    return world() > 1


def rank() -> int:
    return int(os.environ.get("RANK", "0")) if launched() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if launched() else 0


def is_main() -> bool:
    return rank() == 0


def setup(device: torch.device) -> None:
    """Join the launched process group (once per process); `device` is the run's (cuda -> nccl)."""
    if not launched() or _STATE["ready"]:
        return
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() in ("1", "true"):  # it would not be DeepSpeed
        from harness.config import ConfigError
        raise ConfigError("accelerate launch with DeepSpeed: not supported; shard the model with FSDP instead "
                          "(--use_fsdp or unlearn.fsdp=true, docs/distributed.md)")
    import torch.distributed as dist
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_device(local_rank())
    if not dist.is_initialized():  # accelerate's own state may have set it up already
        # long, since the others wait on rank 0 while it builds the models of a run
        timeout = datetime.timedelta(seconds=float(os.environ.get("HARNESS_DIST_TIMEOUT_S", "7200")))
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timeout)
        atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())
    _STATE.update(ready=True, device=f"cuda:{local_rank()}" if cuda else "cpu")


def _dist():
    import torch.distributed as dist
    return dist


def barrier() -> None:
    """Every process waits for the others (a no-op in one process, or before any run set the group up)."""
    if launched() and _dist().is_initialized():
        _dist().barrier()


class Word:
    """Rank 0's one message to the others about a run: `say("go", ...)` (unlearn together), or why not
    ('skipped', 'claimed', 'alone': rank 0 goes on by itself). Leaving the block without having said
    anything (an error on rank 0) says 'failed', so the others stop instead of waiting forever."""

    def __init__(self):
        self.said = not (launched() and is_main())

    def say(self, status: str, **info) -> None:
        if not self.said:
            self.said = True
            _dist().broadcast_object_list([{"status": status, **info}], src=0)

    def __enter__(self) -> "Word":
        return self

    def __exit__(self, typ, exc, tb) -> None:
        self.say("failed", error=f"{typ.__name__}: {exc}" if typ else "rank 0 said nothing")


def hear() -> dict:
    """On ranks > 0: rank 0's Word about the current run."""
    box = [None]
    _dist().broadcast_object_list(box, src=0)
    return box[0]


def shard(forget: list[int], retain: list[int] | None) -> tuple[list[int], list[int] | None, float]:
    """This process's part of a global batch (indices), and its weight: its share of the forget batch.
    A batch smaller than the number of processes is not split: every process takes all of it, at
    weight 1/W, so the summed gradient is still the whole batch's."""
    w, r = world(), rank()
    if w == 1:
        return forget, retain, 1.0
    split = len(forget) >= w
    mine = forget[r::w] if split else forget
    share = len(mine) / len(forget) if split else 1.0 / w
    if retain is not None and len(retain) >= w:
        retain = retain[r::w]
    _STATE["share"] = share
    return mine, retain, share


def batch_mean(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """A loss term's mean over the batch: of per-item `values`, or of per-token `values` over the real
    tokens `mask` marks. In one process the plain mean. Launched, this process's sum over the global
    batch's count (summed across processes, one all_reduce), divided by its share: the loop's
    share-weighted sum of the processes' losses is then exactly the global batch's mean, however the
    batch split (token means included). A loss that takes its means with this is the same loss on any
    number of processes."""
    if not launched():
        return values.mean() if mask is None else (values * mask).sum() / mask.sum().clamp(min=1)
    total, n = (values.sum(), values.numel()) if mask is None else ((values * mask).sum(), mask.sum().item())
    t = torch.tensor([float(n)], dtype=torch.float64, device=_STATE["device"])
    _dist().all_reduce(t)
    return total / (max(t.item(), 1.0) * _STATE["share"])


def global_mean(value: float) -> float:
    """A per-batch number of a loss (e.g. PDU's retain NLL for its dual step) over the global batch:
    the shares' weighted sum across processes; the value itself in one process."""
    if not launched():
        return value
    t = torch.tensor([value * _STATE["share"]], dtype=torch.float64, device=_STATE["device"])
    _dist().all_reduce(t)
    return t.item()


def global_loss(loss: torch.Tensor, logs: dict, share: float) -> tuple[torch.Tensor, dict]:
    """The loss and the logged numbers of the global batch (share-weighted sums, one all_reduce): what
    the train log records and what the divergence check reads, the same on every process."""
    keys = [k for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    t = torch.tensor([loss.item()] + [float(logs[k]) for k in keys], dtype=torch.float64,
                     device=_STATE["device"]) * share
    _dist().all_reduce(t)
    vals = t.tolist()
    return torch.tensor(vals[0]), {**logs, **dict(zip(keys, vals[1:]))}


def _buckets(tensors: list[torch.Tensor], limit: int = 1 << 24):
    """Tensors grouped by dtype and device, at most `limit` elements a group: one collective each."""
    groups: dict = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    for group in groups.values():
        cur, n = [], 0
        for t in group:
            if cur and n + t.numel() > limit:
                yield cur
                cur, n = [], 0
            cur.append(t)
            n += t.numel()
        if cur:
            yield cur


def sum_grads(params: list[torch.Tensor]) -> None:
    """Sum the (share-weighted) gradients across processes, in place. A parameter no process gave a
    gradient keeps none (the optimizer then skips it, as in one process)."""
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors
    dist = _dist()
    has = torch.tensor([float(p.grad is not None) for p in params], device=_STATE["device"])
    dist.all_reduce(has, op=dist.ReduceOp.MAX)
    live = [p for p, h in zip(params, has.tolist()) if h]
    for p in live:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    for grads in _buckets([p.grad for p in live]):
        flat = _flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        for g, s in zip(grads, _unflatten_dense_tensors(flat, grads)):
            g.copy_(s)


@torch.no_grad()
def broadcast_(tensors: list[torch.Tensor]) -> None:
    """Rank 0's values into every process's tensors (the start of unlearning, as DDP does; a curve's
    chosen step, which rank 0 alone measured)."""
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors
    for group in _buckets([t.data for t in tensors]):
        flat = _flatten_dense_tensors(group)
        _dist().broadcast(flat, src=0)
        for t, s in zip(group, _unflatten_dense_tensors(flat, group)):
            t.copy_(s)


def sum_counts(stats, names=("tokens_forward", "tokens_backward", "flops_forward", "flops_backward")) -> None:
    """The whole run's tokens and FLOPs: every process's counts added up (rank 0 writes them)."""
    if not launched():
        return
    t = torch.tensor([getattr(stats, n) for n in names], dtype=torch.int64, device=_STATE["device"])
    _dist().all_reduce(t)
    for n, v in zip(names, t.tolist()):
        setattr(stats, n, v)
