"""Helpers shared by several test files (test files never import one another)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import LlamaConfig, LlamaForCausalLM

from harness.prompts import Encoded

REPO = Path(__file__).resolve().parent.parent


# ---- tiny models and data (method tests) ----

def tiny_model(seed=0):
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32,
                                        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                        max_position_embeddings=32, pad_token_id=0))


def data(n, seed):
    g = torch.Generator().manual_seed(seed)
    return [Encoded(torch.randint(1, 50, (3,), generator=g).tolist(),
                    torch.randint(1, 50, (int(torch.randint(2, 6, (1,), generator=g)),), generator=g).tolist())
            for _ in range(n)]


# ---- the leaderboard page in a real browser ----

CHROMIUM = os.environ.get("HARNESS_CHROMIUM", "/usr/bin/chromium")
XSS_METHOD = "<script>window.__xss = 1</script>npo"
XSS_METRIC = '<img src=x onerror="window.__xss2 = 1">'
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
def _browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: the browser test of the leaderboard page is SKIPPED "
                    f"(apt-get install chromium, or set HARNESS_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: the browser test of the leaderboard page is SKIPPED")
    return sync_playwright


def _results(tiny_grid, tmp_path) -> Path:
    """The session's tiny grid, plus three crafted folders: names that try to inject HTML, a diverged
    run, and a broken one."""
    out, _, _ = tiny_grid
    res = tmp_path / "results"
    shutil.copytree(out / "results" / "runs", res / "runs")
    src = next(p for p in (res / "runs").iterdir() if "-npo-" in p.name)
    evil = res / "runs" / "tofu_forget10-evil-s0-0000000000"
    shutil.copytree(src, evil)
    cfg = yaml.safe_load((evil / "config.yaml").read_text())
    cfg["method"] = XSS_METHOD
    (evil / "config.yaml").write_text(yaml.safe_dump(cfg))
    task = yaml.safe_load((evil / "task.yaml").read_text())
    task["version"] = 99  # the newest declaration of the task is the one the page uses
    task["metrics"][XSS_METRIC] = {"direction": "higher", "role": "forget", "headline": True}
    (evil / "task.yaml").write_text(yaml.safe_dump(task))
    metrics = json.loads((evil / "metrics.json").read_text())
    metrics[XSS_METRIC] = 0.5
    # membership AUCs: this one is closest to the retain model's, another one is higher but farther;
    # both rows compete for the marks (they forgot beyond noise and kept utility: harness/eligibility.py)
    metrics["mia_auc_loss"] = metrics["retain_model_mia_auc_loss"] - 0.05
    metrics["forget_truth_ratio_ci"], metrics["model_utility"] = [0.999, 1.0], 1.0
    metrics["privleak"] = -5.0  # privleak is best at 0: sorted by distance to 0, not by sign
    (evil / "metrics.json").write_text(json.dumps(metrics))
    far = next(p for p in (res / "runs").iterdir() if "-simnpo-" in p.name) / "metrics.json"
    m = json.loads(far.read_text())
    m["mia_auc_loss"] = min(1.0, m["retain_model_mia_auc_loss"] + 0.2)
    m["forget_truth_ratio_ci"], m["model_utility"] = [0.999, 1.0], 0.99
    m["privleak"] = 30.0  # signed order (either way) would put it apart from -5
    far.write_text(json.dumps(m))
    div = res / "runs" / "tofu_forget10-graddiff-s7-1111111111"
    shutil.copytree(next(p for p in (res / "runs").iterdir() if "-graddiff-" in p.name), div)
    cfg = yaml.safe_load((div / "config.yaml").read_text())
    cfg["seed"], cfg["unlearn"]["lr"] = 7, 10.0
    (div / "config.yaml").write_text(yaml.safe_dump(cfg))
    (div / "metrics.json").write_text("{}")
    (div / "status.json").write_text(json.dumps({"status": "diverged", "error": "loss became nan at step 3"}))
    broken = res / "runs" / "tofu_forget10-broken-s0-2222222222"
    shutil.copytree(src, broken)
    (broken / "metrics.json").write_text("{not json")
    return res


# ---- several processes under torchrun ----

REL = 1e-4
def _env():
    """The launched processes' environment: one thread each; compiled modules cached in a folder of the
    session (where PYTHONDONTWRITEBYTECODE is set, each process would compile transformers anew)."""
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK",
                                                            "PYTHONDONTWRITEBYTECODE")}
    cache = Path(os.environ["HARNESS_CACHE"]) / "pycache"
    path = os.pathsep.join([str(REPO), str(REPO / "tests")])  # the harness, and the tests' `helpers`
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": path, "PYTHONPYCACHEPREFIX": str(cache)}


def _torchrun(args, **kw):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    return subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=240, **kw)


def torchrun_record(tmp_path, module_file: str, call: str) -> list[dict]:
    """`call` (e.g. "record_loop(out)") of the test module at `module_file`, loaded by its path, in 2
    processes under torchrun, `out` being <tmp_path>/two; returns what each rank wrote to two.<rank>.json."""
    script = tmp_path / "loop.py"
    script.write_text("import importlib.util, sys\n"
                      f"spec = importlib.util.spec_from_file_location('rec', {module_file!r})\n"
                      "mod = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(mod)\n"
                      f"out = sys.argv[1]\nmod.{call}\n")
    two = _torchrun([str(script), str(tmp_path / "two")])
    assert two.returncode == 0, two.stderr[-3000:]
    return [json.loads((tmp_path / f"two.{r}.json").read_text()) for r in (0, 1)]
