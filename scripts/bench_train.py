"""Speed and memory of one training (unlearning-style) step, for the harness's plain loop with each way of
computing label log-probs (full-vocabulary logits; chunked, harness/tensors.py; liger-kernel's fused
linear-cross-entropy on CUDA) and for a transformers-Trainer loop with the same loss (mean NLL of the
answer tokens), in the same process, on the same model and batches.

    python scripts/bench_train.py [shape=small|llama1b] [batch=8[,32,...]] [seq=256] [steps=5] [chunk=256]
                                  [paths=full,chunked,fused,checkpointed,trainer,compiled,unlearn,unlearn_compiled]
                                  [device=auto] [dtype=auto]
                                  [vocab=] [hidden=] [layers=] [heads=] [kv_heads=] [inter=] [tie=0|1] [out=FILE.json]

shape=small (the default; a CPU-sized Llama: hidden 256, 2 layers, vocab 128,256, untied head) or
shape=llama1b (Llama-3.2-1B's shape: hidden 2048, 16 layers, 32 heads, 8 KV heads, MLP 8192, vocab
128,256, tied embeddings: 1.24B parameters); single keys override the preset. Every sequence has `seq`
real tokens, the loss on the last three quarters (the answer). Each path: one warm-up step, then
`steps` timed steps (AdamW: fused on CUDA) after a device synchronisation. Paths `unlearn` and
`unlearn_compiled` run the harness's own loop (harness/unlearn.py, GradDiff, the batch as forget and
retain set, `unlearn.compile` off or on) and report its own timing and its own FLOP count (matrices only).

Reported per path and batch: tokens/s (real tokens), model FLOP/s and MFU, and the peak memory of one
step (CUDA: the allocator's peak above the step's start; CPU: the process's resident set sampled every
millisecond). Model FLOPs of a step are counted the same for every path, as the work the loss needs:
6 x (parameters of the decoder's matrices) x tokens + 6 x (the output head's) x answer tokens
+ 6 x layers x hidden x sum of causal query-key pairs (attention scores and values; PaLM's count, halved
for the causal mask). MFU divides by the device's dense bf16 peak where it is known (H100/H200 SXM:
989 TFLOP/s); none is given for a CPU.
"""
from __future__ import annotations

import json
import sys
import threading
import time

import torch

PRESETS = {
    "small": dict(vocab=128256, hidden=256, layers=2, heads=4, kv_heads=4, inter=768, tie=0),
    "llama1b": dict(vocab=128256, hidden=2048, layers=16, heads=32, kv_heads=8, inter=8192, tie=1),
}
PEAK_BF16 = {"H100": 989e12, "H200": 989e12}   # dense, SXM datasheet


def _opts(argv: list[str]) -> dict:
    kv = dict(a.split("=", 1) for a in argv if "=" in a)
    o = dict(PRESETS[kv.get("shape", "small")])
    o.update(batch="8", seq=256, steps=5, chunk=256, paths="full,chunked,fused,trainer", device="auto",
             dtype="auto", out="")
    for k, v in kv.items():
        if k not in o and k != "shape":
            raise SystemExit(f"bench_train: unknown option {k} (known: shape, {', '.join(o)})")
        if k != "shape":
            o[k] = type(o[k])(v) if not isinstance(o[k], str) else v
    return o


class _PeakRSS:
    """CPU peak resident memory above the starting point (MB), sampled in a thread."""

    def __enter__(self):
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def _rss(self) -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    def _loop(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self._rss())

    @property
    def used(self) -> float:
        return self.peak - self.start


def _model(o, dev, dtype):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=o["vocab"], hidden_size=o["hidden"], intermediate_size=o["inter"],
                      num_hidden_layers=o["layers"], num_attention_heads=o["heads"], num_key_value_heads=o["kv_heads"],
                      max_position_embeddings=4096, tie_word_embeddings=bool(o["tie"]))
    with torch.device(dev):
        model = LlamaForCausalLM(cfg)
    return model.to(dtype)


def _batch(vocab, batch, seq, dev):
    from harness.prompts import Encoded
    from harness.tensors import collate
    g = torch.Generator().manual_seed(batch)
    items = [Encoded(torch.randint(3, vocab, (seq // 4,), generator=g).tolist(),
                     torch.randint(3, vocab, (seq - seq // 4,), generator=g).tolist()) for _ in range(batch)]
    return {k: v.to(dev) for k, v in collate(items, 0).items()}


def model_flops(model, batch) -> float:
    """The step's model FLOPs (module docstring): matrices of the decoder on every token, the head on the
    answer tokens, causal attention on every (query, key) pair."""
    cfg = model.config
    head = cfg.vocab_size * cfg.hidden_size
    body = sum(p.numel() for n, p in model.named_parameters() if p.dim() == 2 and "embed_tokens" not in n
               and "lm_head" not in n)
    lens = batch["attention_mask"].sum(-1)
    tokens, answers = float(lens.sum()), float((batch["labels"][:, 1:] != -100).sum())
    pairs = float((lens * (lens + 1) / 2).sum())
    return 6 * body * tokens + 6 * head * answers + 6 * cfg.num_hidden_layers * cfg.hidden_size * pairs


def _harness_fn(model, opt, batch, mode, chunk):
    from harness.tensors import answer_logprobs, label_path

    def fn():
        with label_path(mode, chunk, batch["input_ids"].device):
            lp = answer_logprobs(model, batch)
        loss = -lp.token_logps.sum() / lp.mask.sum()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()
    return fn


def _unlearn_path(model, batch, o, compile_: bool):
    """The harness's own loop (harness/unlearn.py) with GradDiff on the batch's sequences as forget and
    retain sets: supply, loss, meter, clipping, fused AdamW. One short call first (warm-up; compiles when
    asked), then `steps` steps timed by the loop itself. FLOPs are the loop's own count (matrices only)."""
    from harness.prompts import Encoded
    from harness.config import UnlearnConfig
    from harness.registry import get_method
    from harness.tensors import label_path
    from harness.unlearn import unlearn
    ids, lab = batch["input_ids"].cpu(), batch["labels"].cpu()
    items = []
    for i in range(ids.shape[0]):
        cut = int((lab[i] != -100).nonzero()[0]) if (lab[i] != -100).any() else ids.shape[1]
        items.append(Encoded(ids[i, :cut].tolist(), ids[i, cut:].tolist()))
    retain = [Encoded(e.prompt, e.answer[::-1]) for e in items]   # other sequences of the same lengths
    method = get_method("graddiff")
    cfg = method.parse_args({})
    base = dict(lr=1e-5, epochs=10**6, batch_size=len(items), retain_batch_size=len(items), compile=compile_)
    with label_path("auto", o["chunk"], batch["input_ids"].device):   # as a run: fused / chunked on CUDA
        unlearn(model, method, cfg, items, retain, UnlearnConfig(**base, max_steps=2), 0, 0, progress=False)
        return unlearn(model, method, cfg, items, retain, UnlearnConfig(**base, max_steps=o["steps"]), 0, 0,
                       progress=False)


def _trainer_fn(model, batch):
    """One optimizer step of a transformers Trainer on the same batch (its own loss: mean NLL of labels)."""
    from transformers import Trainer, TrainingArguments
    rows = [{k: v[i].cpu() for k, v in batch.items()} for i in range(batch["input_ids"].shape[0])]
    cuda = batch["input_ids"].device.type == "cuda"
    args = TrainingArguments(output_dir="/tmp/bench_trainer", per_device_train_batch_size=len(rows), max_steps=10**6,
                             report_to=[], save_strategy="no", logging_strategy="no", use_cpu=not cuda,
                             bf16=cuda and next(model.parameters()).dtype == torch.bfloat16,
                             disable_tqdm=True, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=rows)
    trainer.create_optimizer_and_scheduler(num_training_steps=10**6)
    trainer.current_gradient_accumulation_steps = 1  # what Trainer's own loop sets before training_step
    model.train()

    def fn():
        loss = trainer.training_step(model, dict(batch))
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)
        return loss
    return fn


def _measure(fn, dev, steps):
    """(seconds per step, peak MB of one step, the loss) after one warm-up step."""
    fn()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        loss = fn()
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        with _PeakRSS() as m:
            loss = fn()
        peak = m.used
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps, peak, float(loss)


def main(argv: list[str]) -> int:
    from harness.tensors import fused_available
    o = _opts(argv)
    dev = torch.device("cuda" if o["device"] == "auto" and torch.cuda.is_available() else
                       ("cpu" if o["device"] == "auto" else o["device"]))
    dtype = {"auto": torch.bfloat16 if dev.type == "cuda" else torch.float32, "bfloat16": torch.bfloat16,
             "float32": torch.float32}[o["dtype"]]
    model = _model(o, dev, dtype)
    model.train()
    params = sum(p.numel() for p in model.parameters())
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None) if dtype == torch.bfloat16 else None
    print(f"device: {name}; torch {torch.__version__}; Llama {params / 1e6:.1f}M parameters (hidden {o['hidden']}, "
          f"{o['layers']} layers, vocab {o['vocab']}, tied {bool(o['tie'])}, attention "
          f"{model.config._attn_implementation}), {dtype}; seq {o['seq']}; {o['steps']} timed steps", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=dev.type == "cuda")
    wanted = o["paths"].split(",")
    if "fused" in wanted and not (dev.type == "cuda" and fused_available()):
        print("fused: skipped (needs CUDA and liger-kernel)")
        wanted.remove("fused")
    results, plain, compiled = [], model.model, None
    print(f"{'path':30s} {'batch':>5s} {'tokens/s':>9s} {'TFLOP/s':>8s} {'MFU':>6s} {'peak MB':>9s} {'loss':>8s}")
    for bsz in (int(b) for b in str(o["batch"]).split(",")):
        batch = _batch(o["vocab"], bsz, o["seq"], dev)
        tokens, flops = int(batch["attention_mask"].sum()), model_flops(model, batch)
        for path in wanted:
            if path in ("unlearn", "unlearn_compiled"):   # timed by the loop itself: a row of its own
                label = "harness unlearn(), graddiff" + (", compiled" if path == "unlearn_compiled" else "")
                st = _unlearn_path(model, batch, o, path == "unlearn_compiled")
                toks = 2 * tokens * st.steps            # forget and retain batches: the same sequences
                fl = st.flops_forward + st.flops_backward
                mfu = fl / st.seconds / peak if peak else None
                row = dict(path=label, batch=bsz, seq=o["seq"], tokens_per_s=toks / st.seconds,
                           tflops=fl / st.seconds / 1e12, mfu=mfu, peak_mb=None, loss=st.log[-1]["loss"],
                           steps=st.steps, seconds=st.seconds, flops_counted=fl)
                results.append(row)
                print(f"{label:30s} {bsz:5d} {row['tokens_per_s']:9.0f} {row['tflops']:8.2f} "
                      f"{f'{mfu:.1%}' if mfu else '-':>6s} {'-':>9s} {row['loss']:8.4f}", flush=True)
                continue
            if path == "trainer":
                label, fn = "transformers Trainer loop", _trainer_fn(model, batch)
            elif path == "compiled":   # the decoder through torch.compile, the head through the fused kernel
                compiled = torch.compile(plain) if compiled is None else compiled
                model.model = compiled
                fused = fused_available() and dev.type == "cuda"
                label = "harness, fused, compiled" if fused else "harness, chunked, compiled"
                fn = _harness_fn(model, opt, batch, "fused" if "fused" in label else "chunked", o["chunk"])
            elif path == "checkpointed":   # the chunked path with the layers' activations recomputed
                from harness.compiled import checkpointed
                label = "harness, chunked + checkpoint"
                inner = _harness_fn(model, opt, batch, "chunked", o["chunk"])

                def fn(inner=inner):
                    with checkpointed(model, True):
                        return inner()
            else:
                label = {"full": "harness, full logits", "chunked": f"harness, chunked ({o['chunk']})",
                         "fused": "harness, fused (liger)"}[path]
                fn = _harness_fn(model, opt, batch, path, o["chunk"])
            try:
                sec, mem, loss = _measure(fn, dev, o["steps"])
            except torch.OutOfMemoryError:
                print(f"{label:30s} {bsz:5d} out of memory")
                torch.cuda.empty_cache()
                continue
            finally:
                model.model = plain
            mfu = flops / sec / peak if peak else None
            row = dict(path=label, batch=bsz, seq=o["seq"], tokens_per_s=tokens / sec, tflops=flops / sec / 1e12,
                       mfu=mfu, peak_mb=mem, loss=loss)
            results.append(row)
            print(f"{label:30s} {bsz:5d} {row['tokens_per_s']:9.0f} {row['tflops']:8.2f} "
                  f"{f'{mfu:.1%}' if mfu else '-':>6s} {mem:9.0f} {loss:8.4f}", flush=True)
        del batch
    if o["out"]:
        with open(o["out"], "w") as f:
            json.dump(dict(device=name, torch=torch.__version__, params=params, dtype=str(dtype), opts=o,
                           rows=results), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
