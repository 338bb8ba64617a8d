"""Typed configs: YAML + key=value overrides, unknown keys and wrong types rejected up front."""
import pytest

from harness.config import ConfigError, RunConfig, load_run_config, parse_overrides


def test_defaults_and_overrides():
    cfg = load_run_config(None, ["method=graddiff", "unlearn.lr=5e-4", "seed=3", "method_args.alpha=2"])
    assert isinstance(cfg, RunConfig)
    assert cfg.method == "graddiff" and cfg.seed == 3 and cfg.unlearn.lr == 5e-4
    assert cfg.method_args == {"alpha": 2}


def test_int_is_accepted_for_float():
    assert load_run_config(None, ["unlearn.lr=1"]).unlearn.lr == 1.0


def test_model_shorthand_sets_the_base():
    assert parse_overrides(["model=meta-llama/Llama-3.2-1B"]) == {"model": {"base": "meta-llama/Llama-3.2-1B"}}
    assert load_run_config(None, ["model=/m"]).model.base == "/m"


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown config key 'unlearn.epoch'; did you mean 'unlearn.epochs'"):
        load_run_config(None, ["unlearn.epoch=3"])
    with pytest.raises(ConfigError, match=r"unknown config key 'metod'; did you mean 'method'"):
        load_run_config(None, ["metod=x"])


def test_wrong_type_names_key_and_expectation():
    with pytest.raises(ConfigError, match=r"'unlearn.batch_size': expected int, got 'big'"):
        load_run_config(None, ["unlearn.batch_size=big"])
    with pytest.raises(ConfigError, match=r"'unlearn.save_model': expected bool"):
        load_run_config(None, ["unlearn.save_model=3"])


def test_yaml_file_and_its_errors(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("method: graddiff\nunlearn:\n  batch_size: 4\n")
    cfg = load_run_config(str(f), ["unlearn.batch_size=2"])
    assert cfg.method == "graddiff" and cfg.unlearn.batch_size == 2
    f.write_text("method: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_run_config(str(f))
    with pytest.raises(ConfigError, match="not found"):
        load_run_config(str(tmp_path / "none.yaml"))
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["method"])



def test_a_cached_model_is_named_by_its_place_in_the_cache(tmp_path, monkeypatch):
    """Two clones whose caches live in different folders give a run on the same cached model one run id."""
    import json
    from harness import models as MD
    from harness.resolve import resolve
    ids = []
    for clone in ("a", "b"):
        monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / clone / ".cache"))
        model = tmp_path / clone / ".cache" / "models" / "target-0123"
        model.mkdir(parents=True)
        (model / "config.json").write_text("{}")
        (model / MD.META).write_text(json.dumps({"key": "0123"}))
        ids.append(resolve(load_run_config(None, ["task=tofu_forget10", "method=none",
                                                  f"model.evaluate={model}"])).run_id)
    assert ids[0] == ids[1] and "-eval-target-0123-" in ids[0]
