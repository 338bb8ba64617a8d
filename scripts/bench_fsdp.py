"""What sharding (unlearn.fsdp, harness/sharded.py) saves each process, against data parallelism:
the bytes of parameters, gradients and AdamW state a process holds right after an optimizer step of
the harness's own loop (harness/unlearn.py, GradDiff), and the loop's time per step.

    python scripts/bench_fsdp.py [procs=2] [layers=8] [hidden=512] [inter=1376] [vocab=32000]
                                 [batch=8] [seq=128] [steps=4] [device=auto|cpu|cuda] [dtype=auto] [out=FILE.json]

It launches itself under torchrun twice (data parallel, then sharded; on a CPU one thread per process
and gloo, on CUDA one GPU per process, NCCL and bf16 by default), then prints one row per mode (on
CUDA with each process's allocator peak over the loop). Counted from the tensors themselves (a DTensor counts its local
shard): weights, gradients and the optimizer's moments; activations and the process's other memory
are not in it. On a CPU each process loads the whole model before sharding it, so its peak resident
memory does not show the saving; the counted state does, and is what bounds a GPU's memory.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULTS = dict(procs=2, layers=8, hidden=512, inter=1376, vocab=32000, batch=8, seq=128, steps=4, device="auto",
                dtype="auto", out="")


def _opts(argv):
    o = dict(DEFAULTS)
    for a in argv:
        k, _, v = a.partition("=")
        if k not in o:
            raise SystemExit(f"bench_fsdp: unknown option {k} (known: {', '.join(o)})")
        o[k] = type(o[k])(v)
    return o


def _local_bytes(t) -> int:
    t = t.to_local() if hasattr(t, "to_local") else t
    return t.numel() * t.element_size()


def worker(o: dict, fsdp: bool, out: str) -> None:
    """One process of a launch: the real loop, its state counted after every optimizer step."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from transformers import LlamaConfig, LlamaForCausalLM

    from harness import distributed as dist
    from harness import unlearn as U
    from harness.config import UnlearnConfig
    from harness.prompts import Encoded
    from harness.registry import get_method
    cuda = o["device"] == "cuda" or (o["device"] == "auto" and torch.cuda.is_available())
    dist.setup(torch.device("cuda" if cuda else "cpu"))  # one GPU a process (LOCAL_RANK), NCCL
    dev = torch.device("cuda", dist.local_rank()) if cuda else torch.device("cpu")
    dtype = {"auto": torch.bfloat16 if cuda else torch.float32, "float32": torch.float32,
             "bfloat16": torch.bfloat16}[o["dtype"]]
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=o["vocab"], hidden_size=o["hidden"], intermediate_size=o["inter"],
                                         num_hidden_layers=o["layers"], num_attention_heads=8, num_key_value_heads=8,
                                         max_position_embeddings=o["seq"] * 2, tie_word_embeddings=False))
    model = model.to(dev, dtype)
    g = torch.Generator().manual_seed(1)
    n = o["batch"] * o["steps"]
    half = o["seq"] // 2
    items = [Encoded(torch.randint(0, o["vocab"], (half,), generator=g).tolist(),
                     torch.randint(0, o["vocab"], (o["seq"] - half,), generator=g).tolist()) for _ in range(2 * n)]
    seen = []

    def count(opt, *_):
        params = [p for grp in opt.param_groups for p in grp["params"]]
        state = sum(_local_bytes(v) for s in opt.state.values() for v in s.values() if torch.is_tensor(v) and v.dim())
        seen.append({"params": sum(_local_bytes(p) for p in params),
                     "grads": sum(_local_bytes(p.grad) for p in params if p.grad is not None), "optimizer": state})
    handle = register_optimizer_step_post_hook(count)
    m = get_method("graddiff")
    cfg = UnlearnConfig(lr=1e-5, epochs=1, batch_size=o["batch"], retain_batch_size=o["batch"], fsdp=fsdp)
    t0 = time.perf_counter()
    st = U.unlearn(model, m, m.parse_args({}), items[:n], items[n:], cfg, 0, 0, progress=False)
    wall = time.perf_counter() - t0
    handle.remove()
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if cuda else None  # the whole step, activations too
    total = None if fsdp else sum(p.numel() for p in model.parameters())  # (sharded: counted in the other mode)
    Path(f"{out}.{dist.rank()}.json").write_text(json.dumps(
        {"state": seen[-1], "steps": st.steps, "seconds": wall, "params_total": total, "gpu_peak_mb": peak,
         "device": str(dev), "dtype": str(dtype)}))


def main(argv) -> None:
    o = _opts(argv)
    root = Path(__file__).resolve().parent.parent
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("data parallel", "fsdp"):
            out = f"{tmp}/{mode.replace(' ', '_')}"
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(o["procs"]),
                   __file__, "--worker", json.dumps(o), str(mode == "fsdp"), out]
            env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"bench_fsdp: {mode} failed:\n{done.stderr[-3000:]}")
            per = [json.loads(Path(f"{out}.{r}.json").read_text()) for r in range(o["procs"])]
            st = per[0]["state"]
            rows.append({"mode": mode, "processes": o["procs"],
                         "state_mb_per_process": {k: v / 2**20 for k, v in st.items()},
                         "total_mb_per_process": sum(st.values()) / 2**20,
                         "s_per_step": max(p["seconds"] for p in per) / per[0]["steps"],
                         "gpu_peak_mb_per_process": per[0]["gpu_peak_mb"], "device": per[0]["device"],
                         "dtype": per[0]["dtype"],
                         "params": per[0]["params_total"] or rows[0]["params"]})
    for r in rows:
        s = r["state_mb_per_process"]
        print(f"{r['mode']:>14}: {r['processes']} processes, {r['params'] / 1e6:.1f}M parameters; per process "
              f"weights {s['params']:.0f} MB + grads {s['grads']:.0f} MB + AdamW {s['optimizer']:.0f} MB = "
              f"{r['total_mb_per_process']:.0f} MB; {r['s_per_step']:.2f} s/step"
              + (f"; GPU peak {r['gpu_peak_mb_per_process']:.0f} MB" if r["gpu_peak_mb_per_process"] else "")
              + f" ({r['device']}, {r['dtype']})")
    if o["out"]:
        Path(o["out"]).write_text(json.dumps({"options": o, "rows": rows}, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(json.loads(sys.argv[2]), sys.argv[3] == "True", sys.argv[4])
    else:
        main(sys.argv[1:])
