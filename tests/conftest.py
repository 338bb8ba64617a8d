"""Shared fixtures: a private cache, offline hub access, and the tiny configuration every test uses."""
import atexit
import os
import shutil
import tempfile

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# datasets/lm-eval caches go to a throw-away folder, not the home folder
# (removed when the session ends; a folder the user set is left alone)
if "HF_HOME" not in os.environ:
    os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="hf-home-")
    atexit.register(shutil.rmtree, os.environ["HF_HOME"], True)

# A world of 10 authors x 4 QA and a 1-layer, 64-wide Llama: a full pipeline in seconds.
TINY = ["world.profile=tiny", "model.arch.hidden_size=64", "model.arch.num_layers=1",
        "model.arch.num_heads=2", "model.arch.intermediate_size=128", "model.arch.vocab_size=400",
        "model.pretrain.epochs=40", "model.finetune.epochs=40", "eval.max_new_tokens=12",
        "eval.batch_size=32", "unlearn.epochs=1"]


@pytest.fixture(scope="session", autouse=True)
def harness_cache(tmp_path_factory):
    """All tests share one cache so the tiny world and models are built once per session."""
    path = tmp_path_factory.mktemp("cache")
    os.environ["HARNESS_CACHE"] = str(path)
    return path


@pytest.fixture
def tiny():
    return list(TINY)


@pytest.fixture(scope="session")
def tiny_grid(tmp_path_factory, harness_cache):
    """One tiny grid for the whole session: tofu_forget10, every method full and LoRA, target and
    retain rows. Tests that only read it share it; tests that change run folders copy them."""
    import json

    from harness.cli import main
    out = tmp_path_factory.mktemp("grid")
    grid = out / "grid.yaml"
    grid.write_text("tasks: [tofu_forget10]\nmethods: all\nadapters: [none, lora]\nseeds: [0]\n"
                    "baselines: [target, retain]\nmethod_overrides: {rmu: [method_args.layer=0]}\n"
                    f"overrides: {json.dumps(TINY)}\n")
    rc = main(["grid", str(grid), f"results_dir={out / 'results'}", "--quiet"])
    return out, rc, grid


@pytest.fixture(scope="session")
def qa_tok(tmp_path_factory):
    """A tokenizer trained on the tiny author world's QA pairs and the prompt words (no model)."""
    from harness.tokenizer import train_tokenizer
    from harness.families.tofu import world as world
    files = world.generate("tiny", 0)
    texts = [r["question"] + " " + r["answer"] for r in files["full"]] + ["Question: Answer: user assistant"]
    return train_tokenizer(texts, 300, tmp_path_factory.mktemp("tok"))


SWEEP_SPEC = {"name": "t", "version": 1, "task": "tofu_forget01", "validation": {"overrides": ["world.seed=1"]},
              "methods": {"graddiff": {"unlearn.lr": [1.0e-4, 5.0e-3]}, "npo": {"unlearn.lr": [1.0e-3, 5.0e-3]}},
              "budget": 2, "resources": {"gpus": 0, "cpus": 1, "mem_gb": 4, "time_min": 10},
              "select": {"maximize": "forget_quality", "subject_to": ["model_utility >= 0.9 * target"]}}


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory, harness_cache):
    """One tiny sweep for the session (two methods x two learning rates on a validation world, the
    target as reference, two finals): (sweep file, results folder). Tests that change folders copy them."""
    import yaml

    from harness.cli import main
    out = tmp_path_factory.mktemp("sweep")
    path = out / "sweep.yaml"
    path.write_text(yaml.safe_dump({**SWEEP_SPEC, "overrides": TINY + [f"results_dir={out / 'results'}"]}))
    assert main(["sweep", str(path), "--quiet"]) == 0
    return path, out / "results"


# ---- test lanes --------------------------------------------------------------------------------------
# Markers are applied here, from what a test uses, so a new test lands in the right lane without anyone
# remembering to mark it. `make test-fast` runs `-m "not slow and not distributed and not browser"`;
# `make test` (and CI) runs everything.
#   browser:     drives the real Chromium (Playwright);
#   distributed: starts other processes (torchrun, submitit, grid workers, a second harness process);
#   slow:        trains or unlearns a model, or runs the CLI pipeline (the tiny models take seconds each).
SLOW_FIXTURES = {"tiny", "tiny_grid", "tiny_sweep"}
BROWSER_WORDS = ("_browser(", "sync_playwright", "chromium")
DISTRIBUTED_WORDS = ("torchrun", "submitit", "Popen", "_spawn(", "--workers", "executor=", "--executor",
                     "subprocess.run([sys.executable")
SLOW_WORDS = ("main([\"run\"", "main([\"grid\"", "main([\"sweep\"", "main([\"prepare\"", "main([\"attack\"",
              "main([\"eval\"", "finetune(", "prepare_models(",
              "build_world(", "pretrain(", "world.build(", "train_tokenizer(", "accuracy(", "compiled_layers(",
              "torch.compile")


def _source(item) -> str:
    import inspect
    try:
        return inspect.getsource(item.function)
    except (OSError, TypeError):
        return ""


def _fixture_sources(item) -> str:
    """The sources of the fixtures a test's own module defines (conftest's slow ones are SLOW_FIXTURES): a
    test whose module fixture trains models is slow too."""
    import inspect
    info, module = getattr(item, "_fixtureinfo", None), getattr(getattr(item, "module", None), "__name__", None)
    out = []
    for defs in (info.name2fixturedefs.values() if info else ()):
        for d in defs:
            if getattr(d.func, "__module__", None) != module:
                continue
            try:
                out.append(inspect.getsource(d.func))
            except (OSError, TypeError):
                pass
    return "\n".join(out)


def pytest_collection_modifyitems(config, items):
    for item in items:
        src, used = _source(item) + _fixture_sources(item), set(getattr(item, "fixturenames", ()))
        if any(w in src for w in BROWSER_WORDS):
            item.add_marker(pytest.mark.browser)
        if any(w in src for w in DISTRIBUTED_WORDS):
            item.add_marker(pytest.mark.distributed)
        if used & SLOW_FIXTURES or any(w in src for w in SLOW_WORDS):
            item.add_marker(pytest.mark.slow)


def pytest_configure(config):
    for name, what in (("slow", "trains a model or runs the CLI pipeline"),
                       ("distributed", "starts other processes (torchrun, submitit, grid workers)"),
                       ("browser", "drives a real browser")):
        config.addinivalue_line("markers", f"{name}: {what}")
