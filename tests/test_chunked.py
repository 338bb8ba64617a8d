"""The chunked label log-probs (tensors.chunked_answer_logprobs): the same numbers and the same gradients
as the full-logits reference path, and the full path kept where a model cannot be split."""
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from harness.prompts import Encoded
from harness.tensors import answer_logprobs, chunked_answer_logprobs, collate


def _model(vocab=97, tie=True):
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                                        tie_word_embeddings=tie))


def _batch():
    g = torch.Generator().manual_seed(1)
    items = [Encoded(torch.randint(3, 97, (n,), generator=g).tolist(), torch.randint(3, 97, (m,), generator=g).tolist())
             for n, m in ((5, 7), (9, 3), (4, 11))]
    return collate(items, pad_id=0)


def test_same_log_probs_and_gradients_as_the_full_path():
    for tie in (True, False):
        model, batch = _model(tie=tie), _batch()
        ref = answer_logprobs(model, batch)
        (-ref.token_logps.sum()).backward()
        want = {n: p.grad.clone() for n, p in model.named_parameters()}
        model.zero_grad()
        for chunk in (1, 4, 1000):   # chunk boundaries inside and across sequences
            got = chunked_answer_logprobs(model, batch, chunk=chunk)
            assert torch.equal(got.mask, ref.mask) and torch.equal(got.targets, ref.targets)
            assert torch.allclose(got.token_logps, ref.token_logps, atol=1e-5)
            (-got.token_logps.sum()).backward()
            for n, p in model.named_parameters():
                assert torch.allclose(p.grad, want[n], atol=1e-5), (tie, chunk, n)
            model.zero_grad()


def test_no_grad_and_the_fallback():
    model, batch = _model(), _batch()
    with torch.no_grad():
        a = chunked_answer_logprobs(model, batch, chunk=2)
        b = answer_logprobs(model, batch)
    assert torch.allclose(a.token_logps, b.token_logps, atol=1e-5)
    model.config.final_logit_softcapping = 30.0   # logits are not head(hidden) alone: the full path runs
    with torch.no_grad():
        c = chunked_answer_logprobs(model, batch, chunk=2)
    assert torch.equal(c.token_logps, b.token_logps)


def test_the_run_switch_and_unchanged_run_ids():
    """model.label_logprobs: auto takes the chunked path on CUDA only (CPU numbers stay as published),
    chunked forces it; at their defaults the new keys leave every run id unchanged."""
    from harness import runs, tensors
    from harness.config import load_run_config
    model, batch = _model(), _batch()
    calls = []
    real = tensors.chunked_answer_logprobs
    tensors.chunked_answer_logprobs = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        with tensors.label_path("auto", 4, torch.device("cpu")):
            tensors.answer_logprobs(model, batch)
        assert not calls
        with tensors.label_path("auto", 4, torch.device("cuda")):
            tensors.answer_logprobs(model, batch)
            tensors.answer_logprobs(model, batch, keep_logits=True)  # kept logits: the full path
        assert len(calls) == 1
        with tensors.label_path("chunked", 4, torch.device("cpu")):
            tensors.answer_logprobs(model, batch)
        assert len(calls) == 2
    finally:
        tensors.chunked_answer_logprobs = real
    # the id this run had before the keys existed (766b884820 at task version 3, the id docs/results.md's
    # tables came from), at the task's version 6 (4: privleak_diff reported; 5: the larger holdout pool; 6: its name words)
    a = runs.resolve(load_run_config(None, ["task=tofu_forget01", "method=npo"]))
    assert a.run_id == "tofu_forget01-npo-s0-3c140e059c"
    b = runs.resolve(load_run_config(None, ["task=tofu_forget01", "method=npo", "model.label_logprobs=chunked"]))
    assert b.run_id != a.run_id


def test_bench_train_script_runs_its_loops():
    """scripts/bench_train.py on a toy shape: the three loops run and report (numbers are not asserted:
    speed belongs to the benchmark, not to the tests)."""
    import subprocess
    import sys
    from pathlib import Path
    script = Path(__file__).parent.parent / "scripts" / "bench_train.py"
    done = subprocess.run([sys.executable, str(script), "vocab=300", "hidden=32", "layers=1", "batch=2", "seq=16",
                           "steps=1", "chunk=8", "device=cpu", "heads=2", "kv_heads=2", "inter=64"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [ln for ln in done.stdout.splitlines() if ln.startswith(("harness,", "transformers Trainer"))]
    assert len(rows) == 3 and "chunked (8)" in rows[1], done.stdout   # fused: CUDA only
    assert "fused: skipped" in done.stdout


def test_token_budget_batches():
    """unlearn.batch_tokens: every forget item once an epoch, no batch over its padded-token budget (but a
    single sequence longer than it), groups never mixed, and the schedule's batch count is what is yielded."""
    from harness.unlearn import _forget_batches, batches_per_epoch, pack_by_tokens
    g = torch.Generator().manual_seed(0)
    lens = torch.randint(4, 40, (37,), generator=g).tolist()
    items = [Encoded([1] * (n // 2), [2] * (n - n // 2), group=i % 2) for i, n in enumerate(lens)]
    for budget in (30, 64, 200):
        got = list(_forget_batches(items, 8, torch.Generator().manual_seed(1), budget))
        assert sorted(i for b in got for i in b) == list(range(len(items)))
        for b in got:
            assert len({items[i].group for i in b}) == 1
            assert len(b) * max(lens[i] for i in b) <= budget or len(b) == 1
        assert len(got) == batches_per_epoch(items, 8, budget)
    assert pack_by_tokens(items, [0, 1, 2], 10**6) == [sorted([0, 1, 2], key=lambda i: (lens[i], i))]
    assert batches_per_epoch(items, 8, 0) == 3 + 3  # 19 and 18 items of two groups, 8 a batch


def test_token_budget_run(tiny, tmp_path):
    import json
    from harness.cli import main
    argv = ["run", *tiny, "method=graddiff", "unlearn.batch_tokens=120", f"results_dir={tmp_path}", "--quiet"]
    assert main(argv) == 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert json.loads((folder / "compute.json").read_text())["steps"] > 0


def test_fused_path_wiring_and_its_refusal(monkeypatch):
    """label_logprobs=fused routes the answer positions through tensors._fused_nll (liger-kernel on CUDA;
    here a stand-in with the reference formula), and a run asking for it without CUDA or liger is refused
    in one line before any compute."""
    import pytest
    import torch.nn.functional as F
    from harness import runs, tensors
    from harness.config import ConfigError, load_run_config
    seen = []

    def stand_in(head, h, y):
        seen.append(h.shape[0])
        return F.cross_entropy(head(h).float(), y, reduction="none")
    monkeypatch.setattr(tensors, "_fused_nll", stand_in)
    model, batch = _model(), _batch()
    ref = answer_logprobs(model, batch)
    with tensors.label_path("fused", 4, torch.device("cpu")):
        got = tensors.answer_logprobs(model, batch)
    assert seen == [int(ref.mask.sum())]     # one call over every answer position, no chunks
    assert torch.allclose(got.token_logps, ref.token_logps, atol=1e-5) and torch.equal(got.mask, ref.mask)
    with pytest.raises(ConfigError, match="fused needs a CUDA device and liger-kernel"):
        runs.resolve(load_run_config(None, ["task=tofu_forget01", "method=npo", "model.label_logprobs=fused",
                                            "model.device=cpu"]))


def test_fused_kernel_on_cuda():
    """On a CUDA device with liger-kernel: the fused kernel's per-token log-probs and every parameter
    gradient match the full path's (fp32: 1e-4; bf16: relative error of the gradients under 2e-2,
    bf16's rounding). Skipped without a GPU (run by scripts/gpu_speed.sh on the lent one)."""
    import pytest
    from harness import tensors
    if not (torch.cuda.is_available() and tensors.fused_available()):
        pytest.skip("needs CUDA and liger-kernel")
    for dtype, tol in ((torch.float32, 1e-4), (torch.bfloat16, 2e-2)):
        for tie in (True, False):
            model = _model(vocab=5000, tie=tie).to("cuda", dtype)
            batch = {k: v.cuda() for k, v in _batch().items()}
            ref = answer_logprobs(model, batch)
            (-ref.token_logps.sum()).backward()
            want = {n: p.grad.float().clone() for n, p in model.named_parameters()}
            model.zero_grad()
            with tensors.label_path("fused", 256, torch.device("cuda")):
                got = tensors.answer_logprobs(model, batch)
            assert torch.equal(got.mask, ref.mask)
            err = (got.token_logps - ref.token_logps.float()).abs().max().item()
            assert err < (1e-4 if dtype == torch.float32 else 5e-2), (dtype, tie, err)
            (-got.token_logps.sum()).backward()
            for n, p in model.named_parameters():
                rel = ((p.grad.float() - want[n]).norm() / want[n].norm().clamp(min=1e-12)).item()
                assert rel < tol, (dtype, tie, n, rel)
            print(f"fused vs full on CUDA, {dtype}, tied={tie}: max |logp diff| {err:.2e}")
