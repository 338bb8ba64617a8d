"""Frozen weights a method's set-up changes under LoRA (LoKU moves part of each adapted weight into its
adapter): found by checksum, named in the statistics, and saved with an adapter saved alone, so the
reloaded model is the one that was evaluated. (The stage keeping them: tests/test_stage.py.)"""
import pytest
import torch

from harness import adapters
from harness import models as MD
from harness.config import AdapterConfig, UnlearnConfig
from harness.registry import get_method
from harness.unlearn import unlearn
from helpers import data, tiny_model


def test_the_checksum_sees_any_changed_byte():
    lin = torch.nn.Linear(8, 8)
    before = adapters.frozen_sums(lin)
    assert adapters.changed_since(lin, before) == []
    lin.weight.data.view(torch.int32)[3, 5] ^= 1  # one bit of one value, written through .data
    assert adapters.changed_since(lin, before) == ["weight"]
    z = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        z.weight.zero_()
        before = adapters.frozen_sums(z)
        z.weight.neg_()  # -0.0: equal values, other bytes
    assert adapters.changed_since(z, before) == ["weight"]
    before = adapters.frozen_sums(z)
    z.weight = torch.nn.Parameter(z.weight.detach().clone())  # the same bytes in another tensor
    assert adapters.changed_since(z, before) == ["weight"]
    # two bytes swapped: the plain sum is equal, the positional one is not
    t = torch.arange(16, dtype=torch.uint8)
    a = adapters._checksum(t)
    t[[2, 9]] = t[[9, 2]]
    b = adapters._checksum(t)
    assert a[0] == b[0] and a[1] != b[1]


def _loku(model, steps=2):
    m = get_method("loku")
    cfg = UnlearnConfig(lr=1e-2, epochs=1, batch_size=4, retain_batch_size=4, max_steps=steps)
    return unlearn(model, m, m.parse_args({}), data(8, 1), data(8, 2), cfg, 0, pad_id=0, progress=False)


def test_loku_names_the_frozen_weights_its_set_up_changed():
    model = adapters.apply(tiny_model(), AdapterConfig(kind="lora", rank=4), seed=0)
    st = _loku(model)
    lora_layers = [n for n, mod in model.named_modules() if hasattr(mod, "base_layer") and hasattr(mod, "lora_A")]
    assert sorted(st.base_changed) == sorted(f"{n}.base_layer.weight" for n in lora_layers) and len(lora_layers) == 14
    g = get_method("graddiff")  # no set-up hook: nothing frozen changes
    model = adapters.apply(tiny_model(), AdapterConfig(kind="lora", rank=4), seed=0)
    st = unlearn(model, g, g.parse_args({}), data(8, 1), data(8, 2),
                 UnlearnConfig(lr=1e-2, epochs=1, batch_size=4, retain_batch_size=4, max_steps=2), 0, pad_id=0,
                 progress=False)
    assert st.base_changed == []


def test_an_adapter_saved_alone_reloads_to_the_evaluated_model(tmp_path):
    """adapter.save=adapter after LoKU: base + adapter + the changed frozen weights give the evaluated
    model's logits (without those weights the logits differ by about 0.3 on this model)."""
    tiny_model().save_pretrained(tmp_path / "base")
    cfg = AdapterConfig(kind="lora", rank=4, save="adapter")
    model = adapters.apply(MD.load_model(str(tmp_path / "base"), device="cpu"), cfg, seed=0)
    st = _loku(model)
    ids = torch.randint(1, 50, (3, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        evaluated = model(input_ids=ids).logits
    adapters.save(model, tmp_path / "model", cfg, st.base_changed)
    assert (tmp_path / "model" / adapters.BASE_WEIGHTS).is_file()
    reloaded = MD.load_model(str(tmp_path / "model"), device="cpu")
    with torch.no_grad():
        assert (reloaded(input_ids=ids).logits - evaluated).abs().max() < 1e-6
    # the merged form (the default) holds them already: a plain folder, nothing beside it
    merged = AdapterConfig(kind="lora", rank=4, save="merged")
    adapters.save(model, tmp_path / "merged", merged, st.base_changed)
    assert not (tmp_path / "merged" / adapters.BASE_WEIGHTS).exists()
    with torch.no_grad():
        out = MD.load_model(str(tmp_path / "merged"), device="cpu")(input_ids=ids).logits
    assert (out - evaluated).abs().max() < 1e-5


def test_an_adapter_only_loku_run_evaluates_to_its_own_numbers(tiny, tmp_path):
    """End to end: a LoKU run saved with adapter.save=adapter, then `eval` of its model folder, gives
    the run's own numbers (the base weights its set-up changed are saved beside the adapter)."""
    import json

    from harness.cli import main
    res = tmp_path / "r"
    assert main(["run", "method=loku", "task=tofu_forget01", "adapter.kind=lora", "adapter.save=adapter",
                 f"results_dir={res}", "--quiet", *tiny]) == 0
    (run,) = list((res / "runs").iterdir())
    assert main(["eval", str(run / "model"), "task=tofu_forget01", f"results_dir={tmp_path / 'e'}", "--quiet",
                 *tiny]) == 0
    (ev,) = list((tmp_path / "e" / "runs").iterdir())
    a, b = (json.loads((f / "metrics.json").read_text()) for f in (run, ev))
    for k in ("forget_rouge", "forget_prob", "forget_truth_ratio", "model_utility"):
        assert b[k] == pytest.approx(a[k], rel=1e-4), (k, a[k], b[k])
