"""Reference numbers (the retain model's ratios and AUCs) are keyed by everything that made them and
joined to the evaluated items by id."""
import math

import pytest

from harness.families.tofu import world as world
from harness.config import load_run_config
from harness.data import load_split
from harness.families.tofu.qa import aligned, tofu_metrics
from harness.fingerprint import model_fingerprint
from harness.families.tofu.reference import reference_key


def _data(tmp_path):
    d = world.build(tmp_path, "tiny", 0)
    return d, {"eval": {"forget": load_split(str(d), "forget10_perturbed"), "holdout": load_split(str(d), "holdout10")}}


def test_reference_key_covers_dtype_weights_items_and_settings(tmp_path):
    d, data = _data(tmp_path)
    model = tmp_path / "retain"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"x" * 10)
    key = lambda *ov: reference_key(str(model), data, load_run_config(None, list(ov)))  # noqa: E731
    base = key()
    assert key("model.dtype=bfloat16") != base          # a bf16 run never reuses fp32 numbers
    assert key("eval.min_k=0.2") != base
    assert key() == base
    (model / "model.safetensors").write_bytes(b"y" * 11)  # other weights in the same folder
    assert key() != base
    assert model_fingerprint("org/some-model") == {"id": "org/some-model"}
    before = key()
    data["eval"]["forget"] = data["eval"]["forget"][:-1]
    assert key() != before  # other items


def _agg(ids, logs):
    sets = {k: {"n": 2, "prob": 0.5, "rouge": 0.5, "truth_ratio": 0.5} for k in ("retain", "real_authors", "world_facts")}
    attacks = ("loss", "zlib", "min_k", "min_k_pp")
    mia = [{k: v for k in attacks} for v in (0.1, 0.2)]  # per item: {attack: score}
    sets["forget"] = {"n": len(ids), "prob": 0.5, "rouge": 0.5, "truth_ratio": 0.5, "exact_memorization": 0.5,
                      "extraction_strength": 0.5, "log_ratios": dict(zip(ids, logs)), "mia": mia}
    sets["holdout"] = {"n": 2, "mia": [{k: v for k in attacks} for v in (1.0, 2.0)], "exact_memorization": 0,
                       "extraction_strength": 0}
    return sets


def test_retain_ratios_are_joined_by_item_id_not_position():
    ids = ["f:0", "f:1", "f:2"]
    agg = _agg(ids, [0.0, 1.0, 2.0])
    auc = {k: 0.5 for k in ("loss", "zlib", "min_k", "min_k_pp")}
    same_order = tofu_metrics(agg, {"log_ratios": {"f:0": 0.0, "f:1": 1.0, "f:2": 2.0}, "auc": auc})
    shuffled = tofu_metrics(agg, {"log_ratios": {"f:2": 2.0, "f:0": 0.0, "f:1": 1.0}, "auc": auc})
    assert same_order["ks_stat"] == shuffled["ks_stat"] == 0.0
    with pytest.raises(RuntimeError, match="1 missing \\(e.g. f:2\\), 1 extra \\(e.g. f:9\\)"):
        tofu_metrics(agg, {"log_ratios": {"f:0": 0.0, "f:1": 1.0, "f:9": 2.0}, "auc": auc})
    with pytest.raises(RuntimeError, match="need the retain model's"):
        tofu_metrics(agg, {"log_ratios": {}, "auc": auc})
    assert aligned(["a", "b"], {"b": 2, "a": 1}, "x") == [1, 2]
    assert math.isfinite(same_order["forget_quality"])
