"""End-to-end smoke on the tiny world: prepare, grid, run folders, skip on rerun, leaderboard, eval."""
import json

import pandas as pd
import pytest

from harness.cli import main


@pytest.fixture(scope="module")
def grid_results(tmp_path_factory):
    from tests.conftest import TINY
    out = tmp_path_factory.mktemp("e2e")
    grid = out / "grid.yaml"
    grid.write_text("tasks: [tofu_forget10]\nmethods: all\nadapters: [none, lora]\nseeds: [0]\n"
                    "baselines: [target, retain]\nmethod_overrides: {rmu: [method_args.layer=0]}\n"
                    f"overrides: {json.dumps(TINY)}\n")
    rc = main(["grid", str(grid), f"results_dir={out / 'results'}", "--quiet"])
    return out, rc, grid


def test_grid_writes_every_row(grid_results):
    out, rc, _ = grid_results
    assert rc == 0
    df = pd.read_csv(out / "results" / "leaderboard.csv")
    from harness.registry import load_methods
    expected = {"target", "retain"} | {f"{n}+lora" for n in load_methods()} | \
        {n for n, m in load_methods().items() if not m.requires_adapter}
    assert set(df["method"]) == expected
    for col in ["task", "method", "model", "seed", "forget_quality", "ks_stat", "model_utility",
                "forget_truth_ratio", "forget_rouge", "forget_prob", "unlearn_s", "eval_s",
                "exact_memorization", "extraction_strength", "mia_auc_loss", "mia_auc_zlib", "mia_auc_min_k",
                "mia_auc_min_k_pp", "privleak", "flops", "peak_mem_mb", "cost_vs_retrain", "n_seeds",
                "model_utility_ci", "forget_quality_ci"]:
        assert col in df.columns, col
    assert (out / "results" / "leaderboard_runs.csv").exists()
    retain = df[df.method == "retain"].iloc[0]
    assert retain["forget_quality"] == pytest.approx(1.0) and retain["ks_stat"] == 0.0
    assert retain["privleak"] == pytest.approx(0.0)  # its AUC is the reference AUC
    assert (df["status"] == "complete").all()
    assert df["model_utility"].between(0, 1).all()
    # the tiny target memorised its authors; the retain model never saw the forget authors
    target = df[df.method == "target"].iloc[0]
    assert target["forget_rouge"] > 0.6 and target["forget_rouge"] > retain["forget_rouge"] + 0.3
    assert target["ks_stat"] > retain["ks_stat"] and target["model_utility"] > 0.3
    # the target memorised the forget authors: lower forget loss than on unseen holdout authors
    assert target["mia_auc_loss"] < 0.5 and target["privleak"] < 0
    assert target["exact_memorization"] > retain["exact_memorization"]
    ga = df[df.method == "grad_ascent"].iloc[0]
    assert 0 < ga["cost_vs_retrain"] < 1 and ga["flops"] > 0  # cheaper than retraining
    html = (out / "results" / "leaderboard.html").read_text()
    assert "<h2>tofu_forget10</h2>" in html and "forget_quality &uarr;" in html


def test_run_folder_contents(grid_results):
    out, _, _ = grid_results
    folder = next(p for p in (out / "results" / "runs").iterdir() if "-graddiff-" in p.name)
    lora = next(p for p in (out / "results" / "runs").iterdir() if "-npo+lora-" in p.name)
    assert (lora / "model" / "config.json").exists()  # merged by default: a plain model folder
    for f in ["config.yaml", "task.yaml", "metrics.json", "items.jsonl", "compute.json", "provenance.json",
              "train_log.jsonl", "status.json", "model/config.json"]:
        assert (folder / f).exists(), f
    items = [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines()]
    forget = [i for i in items if i["set"] == "forget"]
    assert len(forget) == json.loads((folder / "metrics.json").read_text())["forget_n"]
    assert all(i["id"].startswith("forget10_perturbed:") and "retain_model_truth_ratio" in i for i in forget)
    compute = json.loads((folder / "compute.json").read_text())
    assert compute["steps"] > 0 and compute["tokens_forward"] > 0 and compute["unlearn_s"] > 0
    assert compute["unlearn_flops"] == 2 * compute["params"] * compute["tokens_forward"] + \
        4 * compute["params"] * compute["tokens_backward"]
    assert compute["retrain_flops"] > 0 and compute["device_type"] in ("cpu", "cuda")
    holdout = [i for i in items if i["set"] == "holdout"]
    assert holdout and all(set(i["mia"]) == {"loss", "zlib", "min_k", "min_k_pp"} for i in holdout)
    assert all("exact_memorization" in i and "extraction_strength" in i for i in forget)
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["seed"] == 0 and prov["packages"]["torch"]


def test_rerun_skips_complete_runs(grid_results, capsys):
    out, _, grid = grid_results
    before = {p.name: (p / "status.json").stat().st_mtime for p in (out / "results" / "runs").iterdir()}
    assert main(["grid", str(grid), f"results_dir={out / 'results'}", "--quiet"]) == 0
    assert "skipped" in capsys.readouterr().err
    after = {p.name: (p / "status.json").stat().st_mtime for p in (out / "results" / "runs").iterdir()}
    assert before == after


def test_leaderboard_is_rebuilt_from_folders_alone(grid_results):
    out, _, _ = grid_results
    csv = out / "results" / "leaderboard.csv"
    first = csv.read_text()
    csv.unlink()
    assert main(["leaderboard", "--results", str(out / "results")]) == 0
    assert csv.read_text() == first


def test_eval_a_saved_model_folder(grid_results, tiny):
    out, _, _ = grid_results
    saved = next(p for p in (out / "results" / "runs").iterdir() if "-grad_ascent-" in p.name) / "model"
    res = out / "eval"
    assert main(["eval", str(saved), f"results_dir={res}", "--quiet", *tiny]) == 0
    (folder,) = list((res / "runs").iterdir())
    metrics = json.loads((folder / "metrics.json").read_text())
    original = json.loads((saved.parent / "metrics.json").read_text())
    assert metrics["forget_rouge"] == pytest.approx(original["forget_rouge"])


def test_diverged_run_is_marked_and_grid_goes_on(tmp_path, tiny):
    from dataclasses import dataclass

    from harness.registry import METHODS, register_method

    @dataclass
    class NoArgs:
        pass

    @register_method("_explode", config=NoArgs, needs=("forget",), lr=1e-3, epochs=1)
    def explode(inp, cfg):
        """NaN loss."""
        return inp.forget.nll_mean.mean() * float("nan"), {}
    grid = tmp_path / "g.yaml"
    grid.write_text(f"tasks: [tofu_forget01]\nmethods: [_explode, grad_ascent]\noverrides: {json.dumps(tiny)}\n")
    try:
        assert main(["grid", str(grid), f"results_dir={tmp_path / 'r'}", "--quiet"]) == 0
    finally:
        METHODS.pop("_explode")
    df = pd.read_csv(tmp_path / "r" / "leaderboard.csv")
    assert dict(zip(df.method, df.status)) == {"_explode": "diverged", "grad_ascent": "complete"}
    folder = next((tmp_path / "r" / "runs").glob("*_explode*"))
    assert json.loads((folder / "status.json").read_text())["error"].startswith("loss became nan")


def test_any_local_model_replaces_the_default(grid_results, tiny, harness_cache, tmp_path):
    """model=<folder saved with save_pretrained> becomes the base; target and retain are fine-tuned from it."""
    base = next((harness_cache / "models").glob("base-*"))
    res = tmp_path / "r"
    assert main(["run", f"model={base}", "method=grad_ascent", f"results_dir={res}", "--quiet", *tiny]) == 0
    (folder,) = list((res / "runs").iterdir())
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["models"]["base"] == str(base)
    assert json.loads((folder / "status.json").read_text())["status"] == "complete"
    df = pd.read_csv(res / "leaderboard.csv") if (res / "leaderboard.csv").exists() else None
    assert df is None  # `run` does not rebuild the leaderboard; `grid` and `leaderboard` do


def test_lora_adapter_saved_alone_can_be_evaluated(grid_results, tiny, tmp_path):
    res = tmp_path / "r"
    assert main(["run", "method=npo", "adapter.kind=lora", "adapter.save=adapter", f"results_dir={res}",
                 "--quiet", *tiny]) == 0
    (run,) = list((res / "runs").iterdir())
    assert (run / "model" / "adapter_config.json").exists() and not (run / "model" / "config.json").exists()
    compute = json.loads((run / "compute.json").read_text())
    assert 0 < compute["trainable_params"] < compute["params"] / 2  # adapters only
    assert main(["eval", str(run / "model"), f"results_dir={tmp_path / 'e'}", "--quiet", *tiny]) == 0
    (ev,) = list((tmp_path / "e" / "runs").iterdir())
    a = json.loads((run / "metrics.json").read_text())
    b = json.loads((ev / "metrics.json").read_text())
    assert b["forget_rouge"] == pytest.approx(a["forget_rouge"]) and b["forget_prob"] == pytest.approx(a["forget_prob"], rel=1e-4)


def test_seeds_are_aggregated(tmp_path, tiny):
    grid = tmp_path / "g.yaml"
    grid.write_text(f"tasks: [tofu_forget01]\nmethods: [grad_ascent]\nseeds: [0, 1]\noverrides: {json.dumps(tiny)}\n")
    assert main(["grid", str(grid), f"results_dir={tmp_path / 'r'}", "--quiet"]) == 0
    runs = pd.read_csv(tmp_path / "r" / "leaderboard_runs.csv")
    agg = pd.read_csv(tmp_path / "r" / "leaderboard.csv")
    assert len(runs) == 2 and len(agg) == 1
    row = agg.iloc[0]
    assert row["n_seeds"] == 2 and row["seed"] == "0,1"
    assert row["forget_truth_ratio"] == pytest.approx(runs["forget_truth_ratio"].mean())
    assert row["forget_truth_ratio_std"] == pytest.approx(runs["forget_truth_ratio"].std())
    assert "&plusmn;" in (tmp_path / "r" / "leaderboard.html").read_text()


def test_hazard_track_end_to_end_through_lm_eval(tmp_path, tiny):
    """The WMDP-style track on the tiny hazard world: base row and RMU, accuracies from lm-eval."""
    grid = tmp_path / "g.yaml"
    grid.write_text("tasks: [wmdp_synthetic]\nmethods: [rmu]\nbaselines: [base]\n"
                    "method_overrides: {rmu: [method_args.layer=0]}\n"
                    f"overrides: {json.dumps(tiny + ['start=base'])}\n")
    assert main(["grid", str(grid), f"results_dir={tmp_path / 'r'}", "--quiet"]) == 0
    df = pd.read_csv(tmp_path / "r" / "leaderboard.csv")
    assert list(df["method"]) == ["base", "rmu"] and (df["status"] == "complete").all()
    base, rmu = df.iloc[0], df.iloc[1]
    assert base["hazard_acc_drop"] == 0.0 and base["general_acc_drop"] == 0.0
    assert 0.0 <= rmu["hazard_acc"] <= 1.0 and 0.0 <= rmu["general_acc"] <= 1.0
    assert rmu["hazard_acc_drop"] == pytest.approx(base["hazard_acc"] - rmu["hazard_acc"])
    assert rmu["steps"] > 0 and rmu["flops"] > 0
    html = (tmp_path / "r" / "leaderboard.html").read_text()
    assert "<h2>wmdp_synthetic</h2>" in html and "hazard_acc &darr;" in html and "<th>forget_quality" not in html


def test_prepare_builds_every_built_in_task(tiny, capsys):
    assert main(["prepare", "--quiet", *tiny]) == 0
    err = capsys.readouterr().err
    assert "prepare tofu_forget10" in err and "prepare wmdp_synthetic" in err and "wmdp_real" not in err
