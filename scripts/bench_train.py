"""Speed and memory of one training (unlearning-style) step: the harness's plain loop with full-vocabulary
logits, the same loop with chunked label log-probs (harness/tensors.py chunked_answer_logprobs), and a
transformers-Trainer loop with the same loss (mean NLL of the answer tokens), in the same process.

    python scripts/bench_train.py [vocab=128256] [hidden=256] [layers=2] [batch=8] [seq=256] [steps=5]
                                  [chunk=256] [device=auto] [dtype=auto]

Prints, per path: tokens/s, achieved FLOP/s (6 * params * tokens per step, the usual estimate), MFU
against the device's peak where it is known (CUDA: H100/H200 bf16 dense 989 TFLOP/s; none for a CPU),
and the peak memory of one loss-and-backward step (CUDA: the allocator's peak; CPU: the process's
resident set sampled every millisecond, above what it held before the step). Run it on a CPU as is;
on a GPU, pass e.g. hidden=2048 layers=16 vocab=128256 seq=256 batch=8 dtype=bfloat16 (a 1.24B Llama shape).
"""
from __future__ import annotations

import sys
import threading
import time

import torch


def _arg(argv, key, default, kind=int):
    for a in argv:
        if a.startswith(key + "="):
            return kind(a.split("=", 1)[1])
    return default


class _PeakRSS:
    """CPU peak resident memory above the starting point (MB), sampled in a thread."""

    def __enter__(self):
        import resource  # noqa: F401 - Linux only, as the harness's own meter
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


def _model(vocab, hidden, layers, dev, dtype):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=hidden * 3, num_hidden_layers=layers,
                      num_attention_heads=max(1, hidden // 64), num_key_value_heads=max(1, hidden // 64),
                      max_position_embeddings=4096, tie_word_embeddings=False)
    return LlamaForCausalLM(cfg).to(dev, dtype)


def _batch(vocab, batch, seq, dev):
    from harness.prompts import Encoded
    from harness.tensors import collate
    g = torch.Generator().manual_seed(0)
    items = [Encoded(torch.randint(3, vocab, (seq // 4,), generator=g).tolist(),
                     torch.randint(3, vocab, (seq - seq // 4,), generator=g).tolist()) for _ in range(batch)]
    return {k: v.to(dev) for k, v in collate(items, 0).items()}


def _step(model, batch, chunk):
    from harness.tensors import answer_logprobs, chunked_answer_logprobs
    lp = chunked_answer_logprobs(model, batch, chunk) if chunk else answer_logprobs(model, batch)
    loss = -lp.token_logps.sum() / lp.mask.sum()
    loss.backward()
    return loss.detach()


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


def _trainer_step_fn(model, batch):
    """One optimizer step of a transformers Trainer on the same batch (its own loss: mean NLL of labels)."""
    from transformers import Trainer, TrainingArguments
    rows = [{k: v[i].cpu() for k, v in batch.items()} for i in range(batch["input_ids"].shape[0])]
    args = TrainingArguments(output_dir="/tmp/bench_trainer", per_device_train_batch_size=len(rows), max_steps=10**6,
                             report_to=[], save_strategy="no", logging_strategy="no", use_cpu=batch["input_ids"].device.type != "cuda",
                             disable_tqdm=True, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=rows)
    trainer.create_optimizer_and_scheduler(num_training_steps=10**6)
    trainer.current_gradient_accumulation_steps = 1  # what Trainer's own loop sets before training_step
    model.train()

    def fn():
        loss = trainer.training_step(model, {k: v for k, v in batch.items()})
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)
        return loss
    return fn


def main(argv: list[str]) -> int:
    vocab, hidden, layers = _arg(argv, "vocab", 128256), _arg(argv, "hidden", 256), _arg(argv, "layers", 2)
    bsz, seq, steps, chunk = _arg(argv, "batch", 8), _arg(argv, "seq", 256), _arg(argv, "steps", 5), _arg(argv, "chunk", 256)
    dev_name = _arg(argv, "device", "auto", str)
    dev = torch.device("cuda" if dev_name == "auto" and torch.cuda.is_available() else
                       ("cpu" if dev_name == "auto" else dev_name))
    dtype = {"auto": torch.bfloat16 if dev.type == "cuda" else torch.float32, "bfloat16": torch.bfloat16,
             "float32": torch.float32}[_arg(argv, "dtype", "auto", str)]
    model = _model(vocab, hidden, layers, dev, dtype)
    batch = _batch(vocab, bsz, seq, dev)
    params = sum(p.numel() for p in model.parameters())
    tokens = int(batch["attention_mask"].sum())
    peak_flops = 989e12 if dev.type == "cuda" and dtype == torch.bfloat16 else None
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; Llama {params / 1e6:.1f}M parameters (hidden {hidden}, {layers} layers, vocab {vocab}), "
          f"{dtype}; batch {bsz} x {seq} tokens; {steps} timed steps")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=dev.type == "cuda")

    def harness(c):
        def fn():
            loss = _step(model, batch, c)
            opt.step()
            opt.zero_grad(set_to_none=True)
            return loss
        return fn
    rows = [("harness loop, full logits", harness(0)), (f"harness loop, chunked ({chunk})", harness(chunk)),
            ("transformers Trainer loop", _trainer_step_fn(model, batch))]
    print(f"{'path':34s} {'tokens/s':>10s} {'TFLOP/s':>9s} {'MFU':>6s} {'peak MB':>9s} {'loss':>9s}")
    for label, fn in rows:
        sec, peak, loss = _measure(fn, dev, steps)
        flops = 6 * params * tokens / sec
        mfu = f"{flops / peak_flops:.1%}" if peak_flops else "–"
        print(f"{label:34s} {tokens / sec:10.0f} {flops / 1e12:9.3f} {mfu:>6s} {peak:9.0f} {loss:9.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
