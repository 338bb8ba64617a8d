"""Save as you go: an evaluation that crashes after unlearning loses nothing; running the same run
again restores the staged model, skips the unlearning, and gives exactly the uninterrupted result."""
import json

import pytest

from harness import unlearning
from harness.cli import main
from harness.families import get_track


def _run(tiny, results):
    return main(["run", "task=tofu_forget01", f"results_dir={results}", "--quiet", *tiny])


# LoKU's set-up changes frozen base weights under LoRA: the stage keeps them along with the adapters
@pytest.mark.parametrize("method, adapter", [("graddiff", "none"), ("graddiff", "lora"), ("loku", "lora")])
def test_a_crashed_evaluation_resumes_from_the_staged_model(tmp_path, tiny, monkeypatch, method, adapter):
    tiny = tiny + [f"method={method}", f"adapter.kind={adapter}"]
    assert _run(tiny, tmp_path / "a") == 0  # the uninterrupted run
    (done,) = list((tmp_path / "a" / "runs").iterdir())

    def boom(*a, **k):
        raise RuntimeError("evaluation crashed")
    monkeypatch.setattr(get_track("tofu"), "evaluate", boom)
    try:
        rc = _run(tiny, tmp_path / "b")
    except RuntimeError:
        rc = 1
    assert rc != 0
    runs_b = tmp_path / "b" / "runs"
    assert not (runs_b / done.name).exists()  # no half-written run folder
    stage = runs_b / f".{done.name}.unlearned"
    assert (stage / "STAGED").exists() and (stage / "train_log.jsonl").read_text().strip()

    monkeypatch.undo()

    def no_unlearning(*a, **k):
        raise AssertionError("the staged run was unlearned again")
    monkeypatch.setattr(unlearning, "unlearn", no_unlearning)
    assert _run(tiny, tmp_path / "b") == 0
    resumed = runs_b / done.name
    assert not stage.exists()
    for f in ("metrics.json", "train_log.jsonl"):
        assert (resumed / f).read_text() == (done / f).read_text(), f
    a, b = (json.loads((d / "compute.json").read_text()) for d in (done, resumed))
    for k in ("steps", "unlearn_flops", "flops_backward", "tokens_forward", "trainable_params", "eval_flops"):
        assert a[k] == b[k], k
