"""End-to-end on the tiny world: grid, run folders, skip on rerun, leaderboard, eval, diverged runs."""
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main


def test_grid_writes_every_row(tiny_grid):
    out, rc, _ = tiny_grid
    assert rc == 0
    df = pd.read_csv(out / "results" / "leaderboard.csv")
    from harness.registry import load_methods
    expected = {"target", "retain"} | {f"{n}+lora" for n in load_methods()} | \
        {n for n, m in load_methods().items() if not m.requires_adapter}
    assert set(df["method"]) == expected
    for col in ["task", "method", "model", "seed", "n_seeds", "n_diverged", "forget_quality", "ks_stat", "ks_n",
                "model_utility", "forget_truth_ratio", "forget_rouge", "forget_prob", "unlearn_s", "eval_s",
                "exact_memorization", "extraction_strength", "mia_auc_loss", "mia_auc_zlib", "mia_auc_min_k",
                "mia_auc_min_k_pp", "privleak", "flops", "peak_mem_mb", "cost_vs_retrain",
                "model_utility_ci", "ks_stat_ci"]:
        assert col in df.columns, col
    assert "forget_quality_ci" not in df.columns  # a p-value has no bootstrap interval
    assert (out / "results" / "leaderboard_runs.csv").exists()
    retain = df[df.method == "retain"].iloc[0]
    assert retain["forget_quality"] == pytest.approx(1.0) and retain["ks_stat"] == 0.0
    # its AUC is the reference AUC; privleak's ratio is undefined (missing) when that AUC is 0, which a tiny
    # world's one forget author against two held out can give by chance (the seed-0 tiny world does)
    assert retain["privleak_diff"] == pytest.approx(0.0)
    assert pd.isna(retain["privleak"]) or retain["privleak"] == pytest.approx(0.0)
    assert (df["status"] == "complete").all() and (df["n_diverged"] == 0).all()
    assert df["model_utility"].between(0, 1).all()
    # the tiny target memorised its authors; the retain model never saw the forget authors
    target = df[df.method == "target"].iloc[0]
    assert target["forget_rouge"] > 0.6 and target["forget_rouge"] > retain["forget_rouge"] + 0.2  # world 0: 0.80 vs 0.52
    assert target["ks_stat"] > retain["ks_stat"] and target["model_utility"] > 0.3
    assert target["mia_auc_loss"] < 0.5 and target["privleak_diff"] <= 0
    assert target["exact_memorization"] > retain["exact_memorization"]
    ga = df[df.method == "grad_ascent"].iloc[0]
    assert 0 < ga["cost_vs_retrain"] < 1 and ga["flops"] > 0  # cheaper than retraining
    html = (out / "results" / "leaderboard.html").read_text()
    assert '"name": "tofu_forget10"' in html and "<svg" in html and "<table" not in html.split("<script")[0]


def test_run_folder_contents(tiny_grid):
    out, _, _ = tiny_grid
    runs = out / "results" / "runs"
    folder = next(p for p in runs.iterdir() if "-graddiff-" in p.name)
    lora = next(p for p in runs.iterdir() if "-npo+lora-" in p.name)
    assert (lora / "model" / "config.json").exists()  # merged by default: a plain model folder
    for f in ["config.yaml", "task.yaml", "metrics.json", "items.jsonl", "compute.json", "provenance.json",
              "train_log.jsonl", "status.json", "model/config.json"]:
        assert (folder / f).exists(), f
    items = [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines()]
    forget = [i for i in items if i["set"] == "forget"]
    assert len(forget) == json.loads((folder / "metrics.json").read_text())["forget_n"]
    assert all(i["id"].startswith("forget10_perturbed:") and "retain_model_log_truth_ratio" in i for i in forget)
    compute = json.loads((folder / "compute.json").read_text())
    assert compute["steps"] > 0 and compute["tokens_forward"] > 0 and compute["unlearn_s"] > 0
    assert compute["unlearn_flops"] == compute["flops_forward"] + compute["flops_backward"] > 0
    assert compute["retrain_flops"] > 0 and compute["device_type"] in ("cpu", "cuda")
    assert compute["memory_method"] == "sampled RSS" and compute["peak_rss_mb"] >= compute["rss_start_mb"] > 0
    assert compute["peak_mem_mb"] == pytest.approx(compute["peak_rss_mb"] - compute["rss_start_mb"])
    holdout = [i for i in items if i["set"] == "holdout"]
    assert holdout and all(set(i["mia"]) == {"loss", "zlib", "min_k", "min_k_pp"} for i in holdout)
    assert all("exact_memorization" in i and "extraction_strength" in i for i in forget)
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["seed"] == 0 and prov["packages"]["torch"]
    idk = next(p for p in runs.iterdir() if "-idkdpo-" in p.name)
    assert json.loads((idk / "provenance.json").read_text())["refusals_file"].endswith("idontknow.jsonl")


def test_backward_flops_follow_what_trains(tiny_grid):
    """Full fine-tuning pays forward + activation + weight gradients; LoRA skips the frozen weight
    gradients; RMU's backward stops at its one trained layer (layer 0 here: nothing below it)."""
    out, _, _ = tiny_grid
    c = {p.name.split("-")[1]: json.loads((p / "compute.json").read_text())
         for p in (out / "results" / "runs").iterdir() if (p / "compute.json").exists()}
    ga, ga_lora, rmu, rmu_lora = c["grad_ascent"], c["grad_ascent+lora"], c["rmu"], c["rmu+lora"]
    per_token = lambda x, k: x[k] / x["tokens_backward"]  # noqa: E731
    assert per_token(ga, "flops_backward") == pytest.approx(4 * ga["matmul_params"], rel=0.01)
    assert per_token(ga_lora, "flops_backward") < 0.8 * per_token(ga, "flops_backward")
    assert per_token(rmu, "flops_backward") < 0.2 * per_token(ga, "flops_backward")
    assert rmu_lora["cost_vs_retrain"] != rmu["cost_vs_retrain"]


def test_rerun_skips_complete_runs(tiny_grid, capsys):
    out, _, grid = tiny_grid
    before = {p.name: (p / "status.json").stat().st_mtime for p in (out / "results" / "runs").iterdir()}
    assert main(["grid", str(grid), f"results_dir={out / 'results'}", "--quiet"]) == 0
    assert "skipped" in capsys.readouterr().err
    after = {p.name: (p / "status.json").stat().st_mtime for p in (out / "results" / "runs").iterdir()}
    assert before == after


def test_leaderboard_is_rebuilt_from_folders_alone(tiny_grid, tmp_path):
    out, _, _ = tiny_grid
    shutil.copytree(out / "results" / "runs", tmp_path / "runs")
    assert main(["leaderboard", "--results", str(tmp_path)]) == 0
    a = pd.read_csv(tmp_path / "leaderboard.csv")
    b = pd.read_csv(out / "results" / "leaderboard.csv")
    pd.testing.assert_frame_equal(a, b)
    # one world seed: the page says that no ranking is claimed (docs/statistics.md)
    assert "no ranking is claimed" in (tmp_path / "leaderboard.html").read_text()


def test_eval_a_saved_model_folder(tiny_grid, tiny, tmp_path):
    out, _, _ = tiny_grid
    saved = next(p for p in (out / "results" / "runs").iterdir() if "-grad_ascent-" in p.name) / "model"
    res = tmp_path / "eval"
    assert main(["eval", str(saved), f"results_dir={res}", "--quiet", *tiny]) == 0
    (folder,) = list((res / "runs").iterdir())
    assert folder.name.startswith(f"tofu_forget10-eval-{saved.parent.name}")
    metrics = json.loads((folder / "metrics.json").read_text())
    original = json.loads((saved.parent / "metrics.json").read_text())
    assert metrics["forget_rouge"] == pytest.approx(original["forget_rouge"])
    assert main(["leaderboard", "--results", str(res)]) == 0
    row = pd.read_csv(res / "leaderboard_runs.csv").iloc[0]
    assert row["method"] == f"eval {saved.parent.name}/model" and not row["reference_row"]  # not the target


def test_diverged_run_keeps_its_log_and_cost(tmp_path, tiny, capsys):
    """A run whose loss turns NaN at step 3: its log, steps and cost up to then are kept, `run` exits 1,
    the grid goes on, and the leaderboard counts only completed seeds."""
    from dataclasses import dataclass

    from harness.registry import METHODS, register_method

    @dataclass
    class NoArgs:
        pass

    @register_method("_explode", config=NoArgs, needs=("forget",), lr=1e-3, epochs=3)
    def explode(inp, cfg):
        """NaN loss from the third step on."""
        explode.calls = getattr(explode, "calls", 0) + 1
        nll = inp.forget.nll_mean.mean()
        return (nll * float("nan") if explode.calls >= 3 else -nll), {"forget_nll": nll.item()}
    try:
        rc = main(["run", "method=_explode", "task=tofu_forget01", f"results_dir={tmp_path / 'r'}", "--quiet", *tiny,
                   "unlearn.epochs=3", "unlearn.batch_size=2"])
        assert rc == 1 and "diverged: loss became nan at step 2" in capsys.readouterr().err
        (folder,) = list((tmp_path / "r" / "runs").iterdir())
        assert json.loads((folder / "status.json").read_text())["status"] == "diverged"
        log = [json.loads(x) for x in (folder / "train_log.jsonl").read_text().splitlines()]
        compute = json.loads((folder / "compute.json").read_text())
        assert len(log) == 2 and compute["steps"] == 2 and compute["unlearn_flops"] > 0 and compute["unlearn_s"] > 0
        explode.calls = -100  # the next seed completes
        grid = tmp_path / "g.yaml"
        grid.write_text(f"tasks: [tofu_forget01]\nmethods: [_explode]\nseeds: [0, 1]\n"
                        f"overrides: {json.dumps(tiny + ['unlearn.epochs=3', 'unlearn.batch_size=2'])}\n")
        assert main(["grid", str(grid), f"results_dir={tmp_path / 'r'}", "--quiet"]) == 0
    finally:
        METHODS.pop("_explode")
    df = pd.read_csv(tmp_path / "r" / "leaderboard.csv")
    row = df.iloc[0]
    assert row["n_seeds"] == 1 and row["n_diverged"] == 1 and row["status"] in ("1 diverged, 1 complete",
                                                                               "1 complete, 1 diverged")
    runs = pd.read_csv(tmp_path / "r" / "leaderboard_runs.csv")
    done = runs[runs.status == "complete"].iloc[0]
    assert row["forget_rouge"] == pytest.approx(done["forget_rouge"])  # the diverged seed is not averaged in
    assert "loss became nan" in str(runs[runs.status == "diverged"].iloc[0]["error"])


def test_any_local_model_replaces_the_default(tiny_grid, tiny, harness_cache, tmp_path):
    """model=<folder saved with save_pretrained> becomes the base; target and retain are fine-tuned from it."""
    base = next((harness_cache / "models").glob("base-*"))
    res = tmp_path / "r"
    assert main(["run", f"model={base}", "method=grad_ascent", f"results_dir={res}", "--quiet", *tiny]) == 0
    (folder,) = list((res / "runs").iterdir())
    prov = json.loads((folder / "provenance.json").read_text())
    from harness.io import local
    assert local(prov["models"]["base"]) == base  # recorded as <cache>/models/base-...: portable
    assert json.loads((folder / "status.json").read_text())["status"] == "complete"
    assert not (res / "leaderboard.csv").exists()  # `run` does not rebuild the leaderboard; `grid` does


def test_lora_adapter_saved_alone_can_be_evaluated(tiny_grid, tiny, tmp_path):
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


def test_seeds_are_aggregated_and_grid_keys_override(tmp_path, tiny):
    """seeds=[0,1] on the command line replaces the grid file's seeds; results_dir in the grid file's
    overrides is where both the runs and the leaderboard go."""
    grid = tmp_path / "g.yaml"
    res = tmp_path / "elsewhere"
    grid.write_text(f"tasks: [tofu_forget01]\nmethods: [grad_ascent]\nseeds: [0]\nbaselines: [target]\n"
                    f"overrides: {json.dumps(tiny + [f'results_dir={res}'])}\n")
    assert main(["grid", str(grid), "seeds=[0, 1]", "--quiet"]) == 0
    runs = pd.read_csv(res / "leaderboard_runs.csv")
    agg = pd.read_csv(res / "leaderboard.csv")
    # the target evaluated as is gives the same numbers under every seed: one run, counted once
    assert len(runs) == 3 and len(agg) == 2
    target = agg[agg.method == "target"].iloc[0]
    assert target["n_seeds"] == 1 and target["seed"] == "0" and bool(target["reference_row"])
    row = agg[agg.method == "grad_ascent"].iloc[0]
    runs = runs[runs.method == "grad_ascent"]
    assert row["n_seeds"] == 2 and row["seed"] == "0,1"
    assert row["forget_truth_ratio"] == pytest.approx(runs["forget_truth_ratio"].mean())
    assert row["forget_truth_ratio_std"] == pytest.approx(runs["forget_truth_ratio"].std())
    assert row["forget_quality"] == pytest.approx(runs["forget_quality"].median())  # declared: median


def test_hazard_track_end_to_end_through_lm_eval(tmp_path, tiny):
    """The WMDP-style track on the tiny hazard world: base row and RMU, accuracies from lm-eval."""
    grid = tmp_path / "g.yaml"
    grid.write_text("tasks: [wmdp_synthetic]\nmethods: [rmu]\nbaselines: [base]\n"
                    "method_overrides: {rmu: [method_args.layer=0]}\n"
                    f"overrides: {json.dumps(tiny)}\n")
    assert main(["grid", str(grid), f"results_dir={tmp_path / 'r'}", "--quiet"]) == 0
    df = pd.read_csv(tmp_path / "r" / "leaderboard.csv")
    assert list(df["method"]) == ["base", "rmu"] and (df["status"] == "complete").all()
    base, rmu = df.iloc[0], df.iloc[1]
    assert base["hazard_acc_drop"] == 0.0 and base["general_acc_drop"] == 0.0
    assert 0.0 <= rmu["hazard_acc"] <= 1.0 and 0.0 <= rmu["general_acc"] <= 1.0
    assert rmu["hazard_acc_drop"] == pytest.approx(base["hazard_acc"] - rmu["hazard_acc"])
    assert rmu["hazard_mcq_acc"] == rmu["hazard_acc"]  # one hazard subject: the same number
    assert rmu["steps"] > 0 and rmu["flops"] > 0 and rmu["eval_s"] > 0
    # only hazard-track runs: the leaderboard command prints its own columns (no TOFU KeyError)
    assert main(["leaderboard", "--results", str(tmp_path / "r")]) == 0


def test_prepare_builds_every_built_in_task(tiny, capsys):
    assert main(["prepare", "--quiet", *tiny]) == 0
    err = capsys.readouterr().err
    assert "prepare tofu_forget10" in err and "prepare wmdp_synthetic" in err and "wmdp_real" not in err
    assert "prepare muse_news_synthetic" in err and "prepare muse_news\n" not in err and "muse_books" not in err


def test_several_grid_files_are_one_grid(capsys):
    """make leaderboard passes both grid files to one grid: every run of both is counted (and validated)."""
    counts = []
    cfgs = Path(__file__).resolve().parent.parent / "configs"
    default, wmdp = str(cfgs / "grid_default.yaml"), str(cfgs / "grid_wmdp.yaml")
    for files in ([default], [wmdp], [default, wmdp]):
        assert main(["grid", *files, "--count"]) == 0
        counts.append(int(capsys.readouterr().out.strip().splitlines()[-1]))
    assert counts[2] == counts[0] + counts[1] and counts[1] == 6


def test_models_are_looked_up_once_per_process(tiny, monkeypatch):
    """A grid asks for the models of every run: the second time, the answer is remembered instead of
    re-encoding the training data to find the cached model."""
    from harness.config import load_run_config
    from harness.models import prepare_models
    from harness.runs import resolve
    from harness.families import get_track
    r = resolve(load_run_config(None, tiny + ["task=tofu_forget01", "method=none"]))
    first = prepare_models(r.cfg, r.task, progress=False)
    calls = []
    monkeypatch.setattr(get_track("tofu"), "model_examples", lambda *a, **k: calls.append(a) or [])
    assert prepare_models(r.cfg, r.task, progress=False) == first and calls == []
    other = resolve(load_run_config(None, tiny + ["task=tofu_forget01", "method=none", "model.finetune.lr=0.004"]))
    with pytest.raises(Exception):  # a different recipe is a different model: looked up (here: refused)
        prepare_models(other.cfg, other.task, progress=False)
    assert calls
