"""`unlearn.fsdp`: a run launched on several processes unlearns with its model sharded (FSDP2).

Data parallelism (harness/distributed.py) keeps a whole copy of the model, its gradients and AdamW's
two moments on every process: 16 bytes a parameter in fp32, so a 7B model needs over 110 GB before any
activation. With `unlearn.fsdp=true` (or `accelerate launch --use_fsdp`) every decoder layer, and then
the rest of the model (embeddings, final norm, head), is sharded with torch's `fully_shard`: each
process keeps 1/W of every parameter, of its gradient and of the optimizer state, and gathers a layer's
full weights only while that layer runs. The frozen reference copy (NPO, KL terms, ...) is sharded the
same way. Nothing else changes: the same global batches and per-process parts, the same share-weighted
losses, so the step is the global batch's (FSDP averages the gradients it reduce-scatters over the W
processes: the loss is scaled by W so that the average is the sum the data-parallel path takes).

Evaluation, staging and saving need the plain model: when unlearning ends, the full weights are
gathered to rank 0's memory (CPU) and loaded into a freshly built copy of the start model (same
architecture and adapters; `rebuild`), which the run then evaluates and saves as before; with
sequential requests every process rebuilds and the next request shards it again. So evaluation still
needs the model to fit one device for inference (weights only), while unlearning does not need room
for its gradients and optimizer state on one device.

The chunked and fused label paths work as they do unsharded: they run the model's own forward with the
head replaced for that pass (harness/tensors.py), so the gathers happen as for the full-logits path.
unlearn.compile and unlearn.checkpoint work too (FSDP's gathers are module hooks, outside the compiled
or recomputed forward of a layer). The unlearning curve (unlearn.curve_every) is measured by every
process on the sharded model (its passes gather weights together), with rank 0's numbers, and each
process keeps its own shards of the chosen step (harness/curves.py `shared`, `after_probe`).
"""
from __future__ import annotations

import os

import torch

from harness import distributed as dist


def requested_by_launcher() -> bool:
    """`accelerate launch --use_fsdp` sets this; its other FSDP options (wrap policy, ...) are not read."""
    return os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true")


def active(cfg) -> bool:
    """Shard this run's unlearning: asked for, and more than one process to shard across."""
    return bool(cfg.fsdp) and dist.launched()


def _fully_shard(model) -> None:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from harness.layers import decoder_layers
    device = torch.device(dist._STATE["device"])
    mesh = init_device_mesh(device.type, (dist.world(),))
    for layer in decoder_layers(model):  # one all-gather per layer, freed after the layer ran
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)        # the rest: embeddings, final norm, the head (tied or not)


def shard(model, ref) -> list[torch.nn.Parameter]:
    """Shard the trained model and the frozen reference copy in place (every process, the same calls);
    returns the trainable parameters, now the process's shards (a new list: the optimizer's)."""
    _fully_shard(model)
    if ref is not None:
        _fully_shard(ref)
    return [p for p in model.parameters() if p.requires_grad]


def after_probe(model, values: dict) -> dict:
    """After the unlearning curve measured the sharded model (every process ran the same passes): the
    root's weights go back to their shards (FSDP leaves a root gathered after a forward without a
    backward, and a restored checkpoint must be gathered anew), and every process takes rank 0's
    numbers, so that all choose the same step even if a kernel rounded differently."""
    from torch.distributed.fsdp import FSDPModule
    for m in model.modules():
        if isinstance(m, FSDPModule):
            m.reshard()
    box = [values]
    dist._dist().broadcast_object_list(box, src=0)
    return box[0]


def loss_scale() -> float:
    """FSDP averages the gradients it reduce-scatters; the loop wants their sum (harness/unlearn.py)."""
    return float(dist.world())


def gather(model) -> dict | None:
    """The sharded model's full state dict: on rank 0 (in CPU memory), None on the others. Every process
    must call it (all-gathers, one parameter at a time)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return full if dist.is_main() else None


def unsharded(model, rebuild, everyone: bool):
    """The plain model after sharded unlearning: `rebuild()` makes a fresh copy of the start model (its
    architecture, adapters and buffers) and rank 0 loads the gathered weights into it. With `everyone`
    (another request follows) every process gets it, with rank 0's weights; otherwise the other
    processes get None (only rank 0 evaluates and writes)."""
    full = gather(model)
    model = None  # the sharded copy is no longer needed (the caller drops its reference too)
    if not (everyone or dist.is_main()):
        return None
    fresh = rebuild()
    if full is not None:
        fresh.load_state_dict(full)  # strict: the same architecture and adapters, every key
    if everyone:
        dist.broadcast_(list(fresh.parameters()))
    return fresh.eval()
