"""The FLOP count (harness/meter.py) against torch's own operator-level count, and the per-run peak
memory against a run that allocates a known amount."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import LlamaConfig, LlamaForCausalLM

from harness import adapters
from harness.config import AdapterConfig
from harness.meter import FlopMeter, PeakMemory, matmul_params

MATMUL_OPS = {"mm", "addmm"}  # the linear layers; attention's score products are bmm / sdpa


def tiny_llama():
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32,
                                        tie_word_embeddings=True, attn_implementation="eager"))


def torch_count(model, loss_fn, ids):
    """(forward, backward) FLOPs of the linear layers as torch's FlopCounterMode counts them."""
    def linear(counter):
        counts = counter.get_flop_counts().get("Global", {})
        return sum(v for k, v in counts.items() if str(k).split(".")[-1] in MATMUL_OPS)
    with FlopCounterMode(display=False) as fwd:
        loss = loss_fn(model, ids)
    with FlopCounterMode(display=False) as bwd:
        loss.backward()
    return linear(fwd), linear(bwd)


def meter_count(model, loss_fn, ids):
    with FlopMeter(model) as m:
        loss = loss_fn(model, ids)
        loss.backward()
    return m.forward, m.backward


def logits_loss(model, ids):
    return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.float().logsumexp(-1).mean()


def layer_loss(layer):
    def fn(model, ids):
        out = {}
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        h = inner.model.layers[layer].register_forward_hook(lambda m, i, o: out.__setitem__("h", o[0] if isinstance(o, tuple) else o))
        model(input_ids=ids, attention_mask=torch.ones_like(ids))
        h.remove()
        return out["h"].pow(2).mean()
    return fn


IDS = torch.randint(1, 64, (2, 7))  # no padding: every position is a real token


@pytest.mark.parametrize("case", ["full", "lora", "rmu_layer1", "frozen_below"])
def test_meter_matches_torchs_count(case):
    model = tiny_llama()
    loss = logits_loss
    if case == "lora":
        model = adapters.apply(model, AdapterConfig(kind="lora", rank=4), seed=0)
    elif case == "rmu_layer1":  # RMU: only down_proj of layers 0..1 train, loss at layer 1's output
        for n, p in model.named_parameters():
            p.requires_grad_(bool(__import__("re").search(r"layers\.(0|1)\.mlp\.down_proj", n)))
        loss = layer_loss(1)
    elif case == "frozen_below":  # only the top layer trains: nothing below it needs a gradient
        for n, p in model.named_parameters():
            p.requires_grad_("layers.2." in n)
    ours = meter_count(model, loss, IDS)
    model.zero_grad(set_to_none=True)
    theirs = torch_count(model, loss, IDS)
    assert ours == theirs, (case, ours, theirs)


def test_formula_by_hand():
    """Full fine-tuning: 2|W| forward + 2|W| activation gradient + 2|W| weight gradient per token,
    for every matrix (the embedding trains, so every matrix's input needs a gradient): 6 N_mm n."""
    model = tiny_llama()
    n_tokens = IDS.numel()
    fwd, bwd = meter_count(model, logits_loss, IDS)
    assert fwd == 2 * matmul_params(model) * n_tokens
    assert bwd == 4 * matmul_params(model) * n_tokens
    # RMU at layer 0 (down_proj of layer 0 only): one weight gradient, nothing passed below it
    model = tiny_llama()
    for n, p in model.named_parameters():
        p.requires_grad_("layers.0.mlp.down_proj" in n)
    _, bwd = meter_count(model, layer_loss(0), IDS)
    assert bwd == 2 * model.model.layers[0].mlp.down_proj.weight.numel() * n_tokens


def test_padding_is_not_counted():
    model = tiny_llama()
    ids = torch.randint(1, 64, (2, 7))
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0  # 3 padding positions
    with FlopMeter(model) as m:
        model(input_ids=ids, attention_mask=mask)
    assert m.forward == 2 * matmul_params(model) * 11


def test_peak_memory_is_the_blocks_own():
    """A block that allocates ~200 MB, then one that allocates nothing: the second must not report the
    first's peak (a process-lifetime peak would)."""
    with PeakMemory() as big:
        x = torch.ones(50_000_000)  # 200 MB
        x.add_(1)
        __import__("time").sleep(0.05)
        del x
    with PeakMemory() as small:
        __import__("time").sleep(0.05)
    assert big.peak_mb - big.start_mb > 150
    assert small.peak_mb - small.start_mb < 50
    assert small.peak_mb < big.peak_mb - 100


def test_meter_on_the_chunked_label_path():
    """The chunked label path (CUDA's default) calls the decoder directly and the head on the answer
    rows only: the meter still matches torch's count (it once missed the decoder's token count)."""
    from harness.prompts import Encoded
    from harness.tensors import chunked_answer_logprobs, collate
    model = tiny_llama()
    batch = collate([Encoded([3, 4, 5], [6, 7]), Encoded([8, 9], [10, 11, 12])], pad_id=0)  # no padding

    def loss(m, _ids):
        return -chunked_answer_logprobs(m, batch, chunk=2).token_logps.sum()
    ours = meter_count(model, loss, None)
    model.zero_grad(set_to_none=True)
    theirs = torch_count(model, loss, None)
    # the head's forward recomputed in the backward pass (activation checkpointing) is a forward pass
    # to the meter and backward work to torch's counter: the totals agree
    head = model.lm_head.weight.numel() * 5 * 2   # 2 |W| per answer-position row: 5 rows (2 + 3 answers)
    assert sum(ours) == sum(theirs) and ours[0] - theirs[0] == head and ours[0] > 0


@pytest.mark.parametrize("case", ["full", "frozen_below", "lora"])
def test_meter_per_layer_while_compiled(case):
    """unlearn.compile counts whole decoder layers (no hook runs inside a compiled layer): the same
    numbers as the per-matrix count for full fine-tuning and a frozen lower stack, at most an over-count
    of input gradients under LoRA (documented in harness/compiled.py)."""
    from harness.layers import decoder_layers
    model = tiny_llama()
    if case == "lora":
        model = adapters.apply(model, AdapterConfig(kind="lora", rank=4), seed=0)
    elif case == "frozen_below":
        for n, p in model.named_parameters():
            p.requires_grad_("layers.2." in n)
    exact = meter_count(model, logits_loss, IDS)
    model.zero_grad(set_to_none=True)
    with FlopMeter(model, units=decoder_layers(model)) as m:
        logits_loss(model, IDS).backward()
    assert m.forward == exact[0]
    assert m.backward == exact[1] if case != "lora" else exact[1] <= m.backward <= 1.5 * exact[1]
    from harness.compiled import compiled_layers
    with compiled_layers(model, True) as layers:   # compiled in place, eager again afterwards
        assert len(layers) == 3 and all("forward" in vars(layer) for layer in layers)
    assert not any("forward" in vars(layer) for layer in decoder_layers(model))


def _off_and_on(tiny, tmp_path, method: str, key: str) -> dict:
    """{False: (metrics, compute), True: (metrics, compute)} of a tiny run with the boolean `key` off and on."""
    import json
    from harness.cli import main
    out = {}
    for on in (False, True):
        res = tmp_path / str(on)
        assert main(["run", *tiny, f"method={method}", f"{key}={on}", f"results_dir={res}", "--quiet"]) == 0
        (folder,) = (res / "runs").iterdir()
        out[on] = (json.loads((folder / "metrics.json").read_text()), json.loads((folder / "compute.json").read_text()))
    return out


def test_compiled_run_gives_the_same_numbers(tiny, tmp_path, monkeypatch):
    """A run with unlearn.compile=true: the same metrics (to float rounding) and FLOP counts as without,
    and the layers are eager again afterwards. torch.compile's fast 'eager' backend here (Inductor's
    kernels are exercised by scripts/gpu_speed.sh on a GPU); the tracing and the hooks are the same."""
    import functools
    from harness import compiled
    monkeypatch.setattr(compiled.torch, "compile", functools.partial(torch.compile, backend="eager"))
    out = _off_and_on(tiny, tmp_path, "graddiff", "unlearn.compile")
    for k in ("forget_prob", "model_utility", "forget_truth_ratio"):
        assert abs(out[True][0][k] - out[False][0][k]) < 1e-5, k
    assert (out[True][1]["flops_forward"], out[True][1]["flops_backward"]) == \
        (out[False][1]["flops_forward"], out[False][1]["flops_backward"])


def test_meter_on_the_fused_label_path(monkeypatch):
    """The fused kernel (liger-kernel, CUDA) applies the head's weight without calling the head: the meter
    is told (meter.count_linear) and matches torch's count. Here a stand-in for liger's loss class with
    its signature and numbers runs the real harness code path on a CPU."""
    import sys
    import types

    import torch.nn.functional as F
    from harness import tensors
    from harness.prompts import Encoded

    class FakeLiger:
        def __init__(self, reduction="mean", accum_dtype=None):
            assert reduction == "none"

        def __call__(self, weight, h, y, bias=None):
            return F.cross_entropy(F.linear(h, weight, bias).float(), y, reduction="none")
    mod = types.ModuleType("liger_kernel.transformers.fused_linear_cross_entropy")
    mod.LigerFusedLinearCrossEntropyLoss = FakeLiger
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers.fused_linear_cross_entropy", mod)
    model = tiny_llama()
    batch = tensors.collate([Encoded([3, 4, 5], [6, 7]), Encoded([8, 9], [10, 11, 12])], pad_id=0)

    def loss(m, _ids):
        with tensors.label_path("fused", 256, "cpu"):
            return -tensors.answer_logprobs(m, batch).token_logps.sum()
    ours = meter_count(model, loss, None)
    model.zero_grad(set_to_none=True)
    assert ours == torch_count(model, loss, None) and ours[0] > 0
    assert tensors.label_path_name() == "full"   # outside the block


def test_checkpointed_run_gives_the_same_numbers(tiny, tmp_path):
    """unlearn.checkpoint=true (activation checkpointing while unlearning): the same metrics, the same
    backward FLOPs, and the recomputed layer forwards counted as forward work; off again afterwards."""
    out = _off_and_on(tiny, tmp_path, "npo", "unlearn.checkpoint")
    for k in ("forget_prob", "model_utility", "forget_truth_ratio"):
        assert abs(out[True][0][k] - out[False][0][k]) < 1e-6, k
    assert out[True][1]["flops_backward"] == out[False][1]["flops_backward"]
    assert out[True][1]["flops_forward"] > out[False][1]["flops_forward"]
    from harness.compiled import checkpointed
    model = tiny_llama()
    with checkpointed(model, True):
        assert model.is_gradient_checkpointing and model.config.use_cache is False
    assert not model.is_gradient_checkpointing and model.config.use_cache is not False


def test_meter_counts_a_recomputed_layer_by_its_own_pass():
    """Activation checkpointing recomputes a layer in the backward pass, after later passes of other
    lengths ran: the recomputation is counted with its own pass's tokens (torch's count, recomputed
    matrix products included, is the reference)."""
    from harness.compiled import checkpointed
    model = tiny_llama().train()
    a, b = torch.randint(1, 64, (3, 9)), torch.randint(1, 64, (2, 5))

    def loss(m, _ids):  # two passes, the shorter one last (as a retain pass follows a forget pass)
        return logits_loss(m, a) + logits_loss(m, b)
    with checkpointed(model, True):
        ours = meter_count(model, loss, None)
        model.zero_grad(set_to_none=True)
        theirs = torch_count(model, loss, None)
    plain = meter_count(tiny_llama().train(), loss, None)
    assert ours[0] > plain[0] and ours[1] == plain[1]  # the recomputation is forward work
    assert sum(ours) == sum(theirs)


def test_peak_mem_mb_is_what_the_block_added():
    """peak_mem_mb is the block's own increase; what the process held before (here 100 MB more) is
    rss_start_mb, and the absolute peak is peak_rss_mb."""
    import time

    from harness.meter import _rss_mb
    held = torch.ones(25_000_000)  # 100 MB, held before the block starts
    held.add_(1)
    before = _rss_mb()
    with PeakMemory() as mem:
        x = torch.ones(12_500_000)  # 50 MB
        x.add_(1)
        time.sleep(0.05)
        del x
    rec = mem.record()
    assert 40 < rec["peak_mem_mb"] < 200, rec
    assert abs(rec["rss_start_mb"] - before) < 20 and rec["rss_start_mb"] > 100
    assert rec["peak_rss_mb"] == pytest.approx(rec["rss_start_mb"] + rec["peak_mem_mb"])
    del held


def test_without_proc_only_the_absolute_peak_is_known(monkeypatch):
    from harness import meter
    monkeypatch.setattr(meter, "_rss_mb", lambda: None)
    with PeakMemory() as mem:
        pass
    rec = mem.record()
    assert rec["peak_mem_mb"] is None and rec["rss_start_mb"] is None and rec["peak_rss_mb"] > 0
    assert mem.method.startswith("lifetime peak")


def test_a_trained_models_record_names_its_device(tmp_path):
    import json

    from harness import models as MD

    class Tok:
        def save_pretrained(self, folder):
            pass
    MD.save_trained(tmp_path / "m", tiny_llama(), Tok(), {"role": "retain", "train": {"seconds": 1.0}})
    train = json.loads((tmp_path / "m" / MD.META).read_text())["train"]
    assert train == {"device_type": "cpu", "device_count": 1, "seconds": 1.0}


@pytest.mark.parametrize("trained_on, run_on, compares", [("cuda", "cpu", False), ("cpu", "cuda", False),
                                                          ("cuda", "cuda", True), ("cpu", "cpu", True),
                                                          (None, "cpu", False)])
def test_time_vs_retrain_needs_the_same_device(tmp_path, trained_on, run_on, compares):
    """Seconds compare only on the same type of device (a record without one, from an older cache, does
    not compare); FLOPs compare on any."""
    import json

    from harness.cost import cost_record, retrain_cost
    train = {"seconds": 20.0, "flops": 70000, "tokens": 10}
    if trained_on:
        train.update(device_type=trained_on, device_count=1)
    (tmp_path / "harness_meta.json").write_text(json.dumps({"train": train}))
    retrain = retrain_cost(str(tmp_path), "harness_meta.json", None)
    c = {"flops_forward": 4000, "flops_backward": 3000, "unlearn_s": 2.0, "eval_s": 1.0}
    out = cost_record(c, retrain, torch.device(run_on))
    assert out["time_vs_retrain"] == (pytest.approx(0.1) if compares else None)
    assert out["cost_vs_retrain"] == pytest.approx(0.1) and out["retrain_device"] == trained_on
    assert retrain == {"retrain_s": 20.0, "retrain_flops": 70000, "retrain_device": trained_on}


def test_a_converted_model_has_no_retraining_cost(tmp_path):
    """A packaged model's folder carries a meta file of its conversion, not of training: standing in
    for the retain model it has no retraining cost to compare with (None), rather than a crash."""
    import json

    from harness.cost import retrain_cost
    (tmp_path / "harness_meta.json").write_text(json.dumps({"packaged": {"name": "smollm2-135m"}}))
    assert retrain_cost(str(tmp_path), "harness_meta.json", None) is None
