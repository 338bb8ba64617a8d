"""The leaderboard as a pure function of run folders: broken folders, a missing results folder,
names that try to inject markup, diverged runs, directions (without a browser; tests/test_page.py
checks the page itself in Chromium)."""
import json
import re

import pandas as pd
import pytest

from harness import leaderboard
from harness.cli import main
from helpers import XSS_METHOD, XSS_METRIC, _results


def _page_data(html: str) -> dict:
    block = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S).group(1)
    return json.loads(block)


def test_broken_folders_are_skipped_and_reported(tiny_grid, tmp_path, capsys):
    res = _results(tiny_grid, tmp_path)
    assert main(["leaderboard", "--results", str(res)]) == 0
    err = capsys.readouterr().err
    assert "skipped broken run folder" in err and "tofu_forget10-broken-s0" in err
    data = _page_data((res / "leaderboard.html").read_text())
    assert len(data["broken"]) == 1 and "tofu_forget10-broken-s0" in data["broken"][0][0]


def test_names_from_run_folders_cannot_inject_markup(tiny_grid, tmp_path):
    res = _results(tiny_grid, tmp_path)
    leaderboard.build(res)
    html = (res / "leaderboard.html").read_text()
    # the only <script> elements are the page's own two; the names survive as data
    assert html.count("<script") == 2 and "<img" not in html
    data = _page_data(html)
    labels = [r["label"] for t in data["tasks"] for r in t["rows"]]
    assert XSS_METHOD in labels
    assert XSS_METRIC in [c["key"] for t in data["tasks"] for c in t["columns"]]


def test_diverged_runs_are_visible_and_not_averaged(tiny_grid, tmp_path):
    res = _results(tiny_grid, tmp_path)
    report = leaderboard.build(res)
    row = report.table[report.table["status"] == "diverged"].iloc[0]
    assert row["n_seeds"] == 0 and row["n_diverged"] == 1 and pd.isna(row["forget_quality"])
    assert row["steps"] > 0  # its cost up to the divergence is kept
    data = _page_data((res / "leaderboard.html").read_text())
    (r,) = [r for t in data["tasks"] for r in t["rows"] if r["status"] == "diverged"]
    assert r["error"] == "loss became nan at step 3" and "lr=10" in r["label"]  # two graddiff settings


def test_a_missing_results_folder_is_an_error(tmp_path, capsys):
    rc = main(["leaderboard", "--results", str(tmp_path / "typo")])
    assert rc == 2 and "results folder" in capsys.readouterr().err and not (tmp_path / "typo").exists()


def test_columns_and_directions_come_from_the_task_file(tiny_grid):
    out, _, _ = tiny_grid
    data = _page_data((out / "results" / "leaderboard.html").read_text())
    (task,) = data["tasks"]
    cols = {c["key"]: c for c in task["columns"]}
    headline = [c["key"] for c in task["columns"] if c["headline"]]
    assert headline[:5] == ["forget_quality", "ks_stat", "ks_n", "model_utility", "forget_rouge"]
    # privleak_diff always has a value; privleak's ratio is missing in a world whose retain model's AUC is
    # 0 (the tiny test world's), and a column no row has a value in is left out
    assert "privleak_diff" in headline and "cost_vs_retrain" in headline and not cols["retain_rouge"]["headline"]
    assert cols["mia_auc_loss"]["direction"] == "retain" and cols["mia_auc_loss"]["reference"] == "retain_model_mia_auc_loss"
    row = next(r for r in task["rows"] if r["label"] == "npo")
    assert row["refs"]["retain_model_mia_auc_loss"] == pytest.approx(
        next(r for r in task["rows"] if r["label"] == "retain")["values"]["mia_auc_loss"])
    assert cols["ks_n"]["integer"] and row["values"]["ks_n"] == 4


def test_a_setting_groups_across_world_seeds_but_never_across_task_versions(tiny_grid, tmp_path):
    """A run of another world seed joins its setting's row (n_worlds 2, n_seeds 2); the same run written
    under another version of the task is a row of its own, never averaged with the current one."""
    import shutil

    import yaml
    out, _, _ = tiny_grid
    runs = tmp_path / "runs"
    src = next(p for p in (out / "results" / "runs").iterdir() if "-grad_ascent-" in p.name)
    shutil.copytree(src, runs / src.name)
    for suffix, edit in (("w1", lambda c, t: c["world"].__setitem__("seed", 1)),
                         ("v99", lambda c, t: t.__setitem__("version", 99))):
        dst = runs / f"{src.name}-{suffix}"
        shutil.copytree(src, dst)
        cfg, task = (yaml.safe_load((dst / f).read_text()) for f in ("config.yaml", "task.yaml"))
        edit(cfg, task)
        (dst / "config.yaml").write_text(yaml.safe_dump(cfg))
        (dst / "task.yaml").write_text(yaml.safe_dump(task))
    assert main(["leaderboard", "--results", str(tmp_path)]) == 0
    rows = pd.read_csv(tmp_path / "leaderboard.csv")
    rows = rows[rows["method"] == "grad_ascent"]
    assert sorted(zip(rows["n_worlds"], rows["n_seeds"])) == [(1, 1), (2, 2)]
