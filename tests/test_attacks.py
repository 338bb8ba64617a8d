"""Attacks (harness/attacks/): the contract over every registered attack, the quantisation attack's
weights and bits, the `attack` command end to end on a tiny run folder, and bad input (exit 2 before
any compute)."""
import dataclasses
import json
import shutil

import pytest
import torch

from harness.attacks import INTERFACE, get_attack, load_attacks
from harness.attacks.quantize import quantized, weight_bits
from harness.cli import main
from harness.config import ConfigError
from harness.tracks import load_tracks

ATTACKS = sorted(load_attacks())


def test_unknown_attack_suggests_the_name():
    with pytest.raises(ConfigError, match="unknown attack 'quantise'; did you mean 'quantize'"):
        get_attack("quantise")


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_interface(name):
    a = get_attack(name)
    assert [x for x in INTERFACE if not hasattr(a, x)] == [] and a.name == name and a.summary
    assert a.families and set(a.families) <= set(load_tracks())
    assert dataclasses.is_dataclass(a.Config) and a.Config()  # every setting has a default


def _run_folder(tiny_grid, tmp_path, method="npo"):
    out, _, _ = tiny_grid
    src = next(p for p in (out / "results" / "runs").iterdir() if f"-{method}-" in p.name)
    dst = tmp_path / "runs" / src.name
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("bits", [8, 4])
def test_quantisation_changes_the_weights_to_the_reported_bits(tiny_grid, tmp_path, bits):
    from harness.models import load_model
    model = load_model(str(_run_folder(tiny_grid, tmp_path) / "model"), device="cpu")
    q = quantized(model, bits)
    found = weight_bits(q)
    linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n != "lm_head"]
    assert sorted(found) == sorted(linear) and set(found.values()) == {bits}   # every layer, but the head
    for name in linear[:3]:
        w = dict(model.named_modules())[name].weight.detach()
        wq = dict(q.named_modules())[name].weight.dequantize().detach()
        assert 0 < (w - wq).abs().max() <= w.abs().max()     # rounded, not replaced
        assert wq.unique().numel() < w.unique().numel()       # fewer distinct values
    assert torch.equal(q.lm_head.weight, model.lm_head.weight)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the original is untouched


def test_attack_command_writes_into_the_run_folder(tiny_grid, tmp_path, capsys):
    run = _run_folder(tiny_grid, tmp_path)
    assert main(["attack", str(run), "quantize", "bits=[8]", "--quiet"]) == 0
    out = run / "attacks" / "quantize"
    status = json.loads((out / "status.json").read_text())
    assert {k: status[k] for k in ("status", "attack", "labels")} == {"status": "complete", "attack": "quantize",
                                                                     "labels": ["8bit"]}
    m = json.loads((out / "8bit" / "metrics.json").read_text())
    before = json.loads((run / "metrics.json").read_text())
    control = json.loads((out / "control.json").read_text())   # the same attack on the retain model
    assert control["model"] == status["control"] == json.loads((run / "provenance.json").read_text())["models"]["retain"]
    for k in ("forget_quality", "model_utility", "forget_rouge", "privleak"):
        assert m[f"{k}_change"] == pytest.approx(m[k] - before[k])
        assert m[f"control_{k}_change"] == control["8bit"][f"{k}_change"]
        assert m[f"{k}_net_change"] == pytest.approx(m[f"{k}_change"] - m[f"control_{k}_change"])
    assert (out / "8bit" / "items.jsonl").read_text().strip()
    cost = json.loads((out / "8bit" / "compute.json").read_text())
    assert cost["eval_s"] > 0 and cost["attack_s"] >= 0 and "peak_mem_mb" in cost
    capsys.readouterr()
    assert main(["attack", str(run), "quantize", "bits=[8]", "--quiet"]) == 0   # complete: skipped
    assert "skipped" in capsys.readouterr().err
    # the leaderboard reads the attack from the run folder: one column per headline metric and label
    import pandas as pd
    assert main(["leaderboard", "--results", str(tmp_path)]) == 0
    row = pd.read_csv(tmp_path / "leaderboard.csv").iloc[0]
    assert row["quantize_8bit_model_utility"] == pytest.approx(m["model_utility"])
    assert row["quantize_8bit_forget_quality"] == pytest.approx(m["forget_quality"])
    assert "quantize_8bit_forget_quality" in (tmp_path / "leaderboard.html").read_text()


def test_attack_bad_input_is_one_line_before_any_compute(tiny_grid, tmp_path, capsys):
    run = _run_folder(tiny_grid, tmp_path)
    diverged = _run_folder(tiny_grid, tmp_path / "d", "graddiff")
    (diverged / "status.json").write_text(json.dumps({"status": "diverged", "error": "nan"}))
    nomodel = _run_folder(tiny_grid, tmp_path / "m", "simnpo")
    shutil.rmtree(nomodel / "model")
    cases = [([str(run), "quantise"], "did you mean 'quantize'"),
             ([str(run), "quantize", "bits=[3]"], "bits"),
             ([str(run), "quantize", "bitz=[8]"], "bitz"),
             ([str(tmp_path / "nothing"), "quantize"], "not a complete run folder"),
             ([str(diverged), "quantize"], "the run is diverged"),
             ([str(nomodel), "quantize"], "no saved model")]
    for args, expected in cases:
        assert main(["attack", *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, (args, err)
    assert not (run / "attacks").exists()


def test_relearn_split_never_shares_an_author():
    from harness.attacks.relearn import split_authors
    from harness.worlds import authors
    rows = [{**r, "id": i} for i, r in enumerate(authors.generate("default", 0)["forget10_perturbed"])]
    per = authors.PROFILES["default"].qa_per_author
    relearn, probe = split_authors(rows, per)
    assert relearn and probe and len(relearn) + len(probe) == len(rows)
    names = lambda part: {r["question"][len("Where was "):-len(" born?")] for r in part  # noqa: E731
                          if r["question"].startswith("Where was ")}
    assert len(names(relearn)) == len(relearn) // per and len(names(probe)) == len(probe) // per
    for name in names(relearn):  # every question names its author: no relearn author is probed
        assert not any(name in r["question"] for r in probe)
    with pytest.raises(ConfigError, match="not whole authors"):
        split_authors(rows[:-1], per)
    with pytest.raises(ConfigError, match="one author"):
        split_authors(rows[:per], per)


def test_relearn_attack_and_its_control(tiny_grid, tmp_path):
    """Relearning on the tiny grid's NPO run: one result per step count, changes against k = 0 on the
    probe authors, and the control (the retain model under the same steps), whose k = 0 change is 0."""
    run = _run_folder(tiny_grid, tmp_path)
    # the tiny world's forget10 has one author of 4 items: two "authors" of 2 items each here
    assert main(["attack", str(run), "relearn", "steps=[0,2,4]", "items_per_author=2", "--quiet"]) == 0
    out = run / "attacks" / "relearn"
    assert json.loads((out / "status.json").read_text())["labels"] == ["k0", "k2", "k4"]
    k0, k4 = (json.loads((out / lb / "metrics.json").read_text()) for lb in ("k0", "k4"))
    full = json.loads((run / "metrics.json").read_text())
    assert k0["forget_n"] < full["forget_n"]                       # the probe authors only
    assert k0["forget_prob_change"] == 0 and k0["control_forget_prob_change"] == 0
    assert k4["forget_prob_change"] == pytest.approx(k4["forget_prob"] - k0["forget_prob"])
    control = json.loads((out / "control.json").read_text())
    assert k4["control_forget_prob_change"] == pytest.approx(control["k4"]["forget_prob"] - control["k0"]["forget_prob"])
    assert k4["forget_prob"] != k0["forget_prob"]                  # the steps trained the model


def test_relearn_bad_input(tiny_grid, tmp_path, capsys):
    import yaml
    run = _run_folder(tiny_grid, tmp_path)
    for args, expected in ([["steps=[5,0]"], "steps"], [["steps=[-1]"], "steps"], [["lr=0"], "lr"],
                           [[], "the forget split has one author"], [["items_per_author=3"], "not whole authors"]):
        assert main(["attack", str(run), "relearn", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, err
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["task"], cfg["start"] = "wmdp_synthetic", "auto"
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["attack", str(run), "paraphrase"]) == 2   # the probes ask TOFU's questions only
    assert "does not apply to task family wmdp" in capsys.readouterr().err


def test_attack_over_a_glob_of_run_folders(tiny_grid, tmp_path, capsys):
    """A quoted pattern attacks every matching method run (reference rows are left out), after checking
    all of them."""
    out, _, _ = tiny_grid
    res = tmp_path / "runs"
    for p in (out / "results" / "runs").iterdir():
        if any(f"-{m}-" in p.name for m in ("npo", "target", "grad_ascent")):
            shutil.copytree(p, res / p.name)
    assert main(["attack", str(res / "tofu_forget10-*"), "quantize", "bits=[8]", "--quiet"]) == 0
    attacked = sorted(p.name.split("-")[1] for p in res.iterdir() if (p / "attacks" / "quantize" / "status.json").exists())
    assert attacked == ["grad_ascent", "npo"]
    assert main(["attack", str(res / "nothing-*"), "quantize"]) == 2
    assert "no complete method run matches" in capsys.readouterr().err


def test_attack_columns_name_their_attack_label_and_metric():
    """Attack names may contain '_' (relearn_ood): the longest registered name wins."""
    from harness.leaderboard import parse_attack_column
    m = {"forget_quality": {}, "privleak": {}, "forget_rouge": {}}
    assert parse_attack_column("relearn_ood_k10_forget_quality", m) == ("relearn_ood", "k10", "forget_quality")
    assert parse_attack_column("relearn_k10_forget_quality", m) == ("relearn", "k10", "forget_quality")
    assert parse_attack_column("quantize_4bit_privleak", m) == ("quantize", "4bit", "privleak")
    assert parse_attack_column("forget_quality", m) is None and parse_attack_column("quantize_privleak", m) is None


def test_bitsandbytes_without_a_gpu_is_one_line_before_any_compute(tiny_grid, tmp_path, capsys):
    """library=bitsandbytes needs CUDA (and the package); auto falls back to optimum-quanto and says so."""
    from harness.models import load_model
    run = _run_folder(tiny_grid, tmp_path)
    if not torch.cuda.is_available():
        assert main(["attack", str(run), "quantize", "library=bitsandbytes"]) == 2
        err = capsys.readouterr().err.strip()
        assert "needs a CUDA GPU" in err and len(err.splitlines()) == 1, err
        assert not (run / "attacks").exists()
    assert main(["attack", str(run), "quantize", "bits=[4]", "--quiet"]) == 0
    cost = json.loads((run / "attacks" / "quantize" / "4bit" / "compute.json").read_text())
    gpu = torch.cuda.is_available() and next(load_model(str(run / "model")).parameters()).is_cuda
    assert cost["quant_library"] == ("optimum-quanto qint4" if not gpu else "bitsandbytes nf4")
