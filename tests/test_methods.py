"""Contract tests over every registered method, plus the registry and the loop's guarantees."""
from dataclasses import dataclass

import pytest
import torch

from harness import adapters
from harness.config import AdapterConfig, ConfigError, UnlearnConfig
from harness.prompts import Encoded
from harness.registry import METHODS, SUPPLIES, get_method, load_methods, register_method
from harness.supply import LossInputs
from harness.unlearn import Diverged, make_reference, unlearn
from helpers import data, tiny_model

ALL = sorted(load_methods())
VARIANTS = [(m, a) for m in ALL for a in ("none", "lora") if not (a == "none" and METHODS[m].requires_adapter)]


def run(name, model, steps=3, seed=0, adapter="none", reference=None):
    m = get_method(name)
    model = adapters.apply(model, AdapterConfig(kind=adapter, rank=4), seed=0)
    cfg = UnlearnConfig(lr=1e-2, epochs=10, batch_size=4, retain_batch_size=4, max_steps=steps)
    stats = unlearn(model, m, m.parse_args({}), data(8, 1), data(8, 2), cfg, seed, pad_id=0, progress=False,
                    idk=data(8, 3), reference=reference)
    return stats, model


def test_the_methods_are_registered():
    assert {"grad_ascent", "graddiff", "graddiff_kl", "npo", "simnpo", "idkdpo", "rmu", "loku"} <= set(ALL)


@pytest.mark.parametrize("name, adapter", VARIANTS)
def test_contract(name, adapter):
    m = METHODS[name]
    assert set(m.needs) <= set(SUPPLIES) and m.lr > 0 and m.epochs >= 1 and m.summary
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ref = make_reference(model, m)
    ref_before = {k: v.clone() for k, v in ref.state_dict().items()} if ref is not None else None
    stats, trained = run(name, model, adapter=adapter, reference=ref)
    assert stats.steps == 3 and all(torch.isfinite(torch.tensor(r["loss"])) for r in stats.log)
    assert stats.tokens_forward > 0 and stats.tokens_backward > 0 and stats.trainable_params > 0
    names = dict(trained.named_parameters())
    changed = {n for n, p in names.items() if n in _plain(names) and not torch.equal(p.detach(), before[_plain(names)[n]])}
    # LoRA's B starts at zero: a non-zero B means the adapter trained (or FILA initialised it)
    adapters_changed = {n for n, p in names.items() if "lora_B" in n and p.detach().abs().sum() > 0}
    if adapter == "lora":
        # only adapter weights train; the base weights are untouched (LoKU's FILA init moves the
        # adapted base weights by design, so that the model output is unchanged at step 0)
        assert adapters_changed
        if not m.init:
            assert not changed, f"base weights changed under LoRA: {sorted(changed)[:3]}"
    else:
        assert changed, "no parameter changed"
        if m.trainable is not None:
            pattern = __import__("re").compile(m.trainable(m.parse_args({})))
            assert all(pattern.search(n) for n in changed), sorted(changed)
    if ref is not None:  # the frozen reference never changes
        assert all(torch.equal(v, ref_before[k]) for k, v in ref.state_dict().items())
    # same seed, same start -> the same loss trace, bit for bit on CPU
    again, _ = run(name, tiny_model(), adapter=adapter)
    assert [r["loss"] for r in again.log] == [r["loss"] for r in stats.log]


def _plain(names):
    """Map a (possibly peft-wrapped) parameter name to the plain model's name."""
    out = {}
    for n in names:
        plain = n.replace("base_model.model.", "", 1).replace(".base_layer", "")
        if "lora_" not in n:
            out[n] = plain
    return out


def test_lora_reference_is_the_same_network_with_adapters_off():
    m = get_method("npo")
    model = adapters.apply(tiny_model(), AdapterConfig(kind="lora", rank=4), seed=0)
    assert make_reference(model, m) is None  # no second copy in memory
    x = torch.randint(1, 50, (1, 6))
    start = tiny_model()(input_ids=x).logits
    for p in (q for n, q in model.named_parameters() if "lora_B" in n):
        torch.nn.init.normal_(p)
    with model.disable_adapter():
        assert torch.allclose(model(input_ids=x).logits, start, atol=1e-6)
    assert not torch.allclose(model(input_ids=x).logits, start, atol=1e-3)


def test_unknown_method_suggests():
    with pytest.raises(ConfigError, match="did you mean 'graddiff'"):
        get_method("gradiff")


def test_unknown_method_argument():
    with pytest.raises(ConfigError, match="unknown config key 'method_args.alpah'; did you mean 'method_args.alpha'"):
        get_method("graddiff").parse_args({"alpah": 1})


def test_undeclared_supply_is_an_error():
    with pytest.raises(AttributeError, match="did not declare"):
        LossInputs("x", {"forget": 1}).retain


@dataclass
class _NoArgs:
    pass


def test_nan_loss_raises_diverged():
    @register_method("_nan_test", config=_NoArgs, needs=("forget",), lr=1e-3, epochs=1)
    def nan_loss(inp, cfg):
        """Always NaN."""
        return inp.forget.nll_mean.mean() * float("nan"), {}
    try:
        with pytest.raises(Diverged, match="step 0"):
            run("_nan_test", tiny_model())
    finally:
        METHODS.pop("_nan_test")


def test_empty_forget_set_is_rejected():
    m = get_method("grad_ascent")
    with pytest.raises(ValueError, match="forget set is empty"):
        unlearn(tiny_model(), m, m.parse_args({}), [], [], UnlearnConfig(lr=1e-3, epochs=1), 0, 0, False)


def test_several_forget_corpora_alternate_and_never_mix():
    """Forget items from two corpora (e.g. WMDP's bio and cyber text): each batch is from one corpus,
    batches alternate between them, and RMU steers each corpus towards its own direction."""
    from harness.unlearn import _forget_batches
    items = [Encoded([1], [2], group=0) for _ in range(6)] + [Encoded([1], [3], group=1) for _ in range(4)]
    batches = list(_forget_batches(items, 2, torch.Generator().manual_seed(0)))
    groups = [{items[i].group for i in b} for b in batches]
    assert all(len(g) == 1 for g in groups)
    assert [g.pop() for g in groups] == [0, 1, 0, 1, 0]
    assert sorted(i for b in batches for i in b) == list(range(10))
    one = [Encoded([1], [2]) for _ in range(5)]
    assert sorted(i for b in _forget_batches(one, 2, torch.Generator().manual_seed(0)) for i in b) == list(range(5))
    from methods.rmu import control_vector
    like = torch.zeros(1)
    assert not torch.allclose(control_vector(8, 0, like), control_vector(8, 1, like))


def test_loku_fisher_initialisation_is_timed_and_counted():
    """The Fisher passes are part of LoKU's cost: more Fisher batches, more FLOPs, same steps."""
    def cost(batches):
        m = get_method("loku")
        model = adapters.apply(tiny_model(), AdapterConfig(kind="lora", rank=4), seed=0)
        cfg = UnlearnConfig(lr=1e-3, epochs=1, batch_size=4, retain_batch_size=4, max_steps=1)
        return unlearn(model, m, m.parse_args({"fisher_batches": batches, "fisher_batch_size": 4}), data(8, 1),
                       data(8, 2), cfg, 0, pad_id=0, progress=False)
    one, two = cost(1), cost(2)
    assert one.steps == two.steps == 1
    assert two.flops_forward > one.flops_forward and two.flops_backward > one.flops_backward
    assert one.seconds > 0
