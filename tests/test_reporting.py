"""What the tables say, from hand-made run folders (no training): seeds of one setting group together
however old their folders, float noise is not a spread, non-numbers are flagged, attack p-values take
the median like the main column, a folder without runs/ is not a results folder, and the best marks
go only to rows that forgot beyond noise and kept their utility."""
import json

import pytest
import yaml

from harness import leaderboard
from harness.cli import main
from harness.config import load_run_config, to_dict
from harness.runs import resolve
from harness.tasks import resolved_yaml


def _folder(res, name: str, args: list[str], metrics: dict, status: str = "complete", drop: tuple = (),
            attacks: dict | None = None):
    r = resolve(load_run_config(None, args))
    f = res / "runs" / name
    f.mkdir(parents=True)
    cfg = to_dict(r.cfg)
    for key in drop:  # a folder written before these config keys existed
        section, leaf = key.split(".")
        cfg[section].pop(leaf)
    (f / "config.yaml").write_text(yaml.safe_dump(cfg))
    (f / "task.yaml").write_text(resolved_yaml(r.task))
    (f / "metrics.json").write_text(json.dumps(metrics))
    (f / "compute.json").write_text(json.dumps({"steps": 3}))
    (f / "status.json").write_text(json.dumps({"status": status, "error": None, "run_id": name}))
    for (attack, label), m in (attacks or {}).items():
        (f / "attacks" / attack / label).mkdir(parents=True)
        (f / "attacks" / attack / label / "metrics.json").write_text(json.dumps(m))
        (f / "attacks" / attack / "status.json").write_text(json.dumps({"status": "complete", "labels": [label]}))
    return f


TASK = "task=tofu_forget01"


def test_old_and_new_folders_of_one_setting_are_one_row(tmp_path):
    """A folder written before unlearn.batch_tokens and unlearn.select_on existed (its config.yaml lacks
    them) and a new one, seeds 0 and 1 of the same setting: one row with two seeds."""
    _folder(tmp_path, "a", ["method=npo", TASK, "seed=0"], {"forget_quality": 0.5},
            drop=("unlearn.batch_tokens", "unlearn.select_on"))
    _folder(tmp_path, "b", ["method=npo", TASK, "seed=1"], {"forget_quality": 0.7})
    table = leaderboard.build(tmp_path).table
    assert len(table) == 1 and table.iloc[0]["n_seeds"] == 2
    assert table.iloc[0]["forget_quality"] == pytest.approx(0.6)  # the declared median of two


def test_float_noise_is_no_spread_and_non_numbers_are_flagged(tmp_path):
    for seed, v in enumerate([0.1 + 0.2, 0.3, 0.30000000000000004]):
        _folder(tmp_path, f"s{seed}", ["method=npo", TASK, f"seed={seed}"],
                {"model_utility": v, "forget_rouge": "n/a" if seed == 2 else 0.5})
    report = leaderboard.build(tmp_path)
    row = report.table.iloc[0]
    assert row["model_utility_std"] == 0.0
    runs = report.runs.set_index("run_id")
    assert "forget_rouge is not a number" in runs.loc["s2", "flags"] and pd_isna(runs.loc["s2", "forget_rouge"])
    assert row["forget_rouge"] == 0.5 and "flags" in (tmp_path / "leaderboard_runs.csv").read_text().splitlines()[0]


def pd_isna(v) -> bool:
    import pandas as pd
    return bool(pd.isna(v))


def test_attack_p_values_take_the_median_over_seeds(tmp_path):
    for seed, p in enumerate([1e-9, 1e-3, 0.5]):
        _folder(tmp_path, f"s{seed}", ["method=npo", TASK, f"seed={seed}"], {"forget_quality": p},
                attacks={("relearn", "k10"): {"forget_quality": p}})
    row = leaderboard.build(tmp_path).table.iloc[0]
    assert row["forget_quality"] == pytest.approx(1e-3)
    assert row["relearn_k10_forget_quality"] == pytest.approx(1e-3)  # not the mean, 0.167


def test_a_folder_without_runs_is_not_a_results_folder(tmp_path, capsys):
    rc = main(["leaderboard", "--results", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "no runs/ folder" in err[0]
    assert list(tmp_path.iterdir()) == []  # no empty tables written into it


def test_marks_go_only_to_rows_that_forgot_and_kept_utility(tmp_path):
    """Against the target (forget truth ratio 0.42, utility 0.90): `moved` forgot beyond noise and kept utility;
    `stuck` has the target inside its interval; `collapsed` forgot everything and lost its utility. Only
    `moved` and `moved2` compete, so the column's best utility is `moved`'s 0.80, not `stuck`'s 0.90,
    and the best forget ROUGE is `moved2`'s 0.5, not `collapsed`'s 0.0."""
    base = {"forget_quality": 0.01, "forget_rouge": 0.9}
    _folder(tmp_path, "t", ["method=none", "start=target", TASK],
            {**base, "forget_truth_ratio": 0.42, "model_utility": 0.90})
    _folder(tmp_path, "moved", ["method=npo", TASK], {**base, "forget_truth_ratio": 0.70, "forget_truth_ratio_ci": [0.6, 0.8],
                                                      "model_utility": 0.80})
    _folder(tmp_path, "moved2", ["method=graddiff", TASK], {**base, "forget_truth_ratio": 0.65, "forget_truth_ratio_ci": [0.55, 0.75],
                                                            "model_utility": 0.75, "forget_rouge": 0.5})
    _folder(tmp_path, "stuck", ["method=ceu", TASK], {**base, "forget_truth_ratio": 0.43, "forget_truth_ratio_ci": [0.3, 0.55],
                                                      "model_utility": 0.90})
    _folder(tmp_path, "collapsed", ["method=pdu", TASK], {**base, "forget_truth_ratio": 0.6, "forget_rouge": 0.0,
                                                          "forget_truth_ratio_ci": [0.5, 0.7], "model_utility": 0.20})
    report = leaderboard.build(tmp_path)
    rows = report.table.set_index("method")
    assert rows.loc["npo", "eligible"] is True or rows.loc["npo", "eligible"] == True  # noqa: E712
    assert rows.loc["ceu", "eligible"] == False and "did not forget" in rows.loc["ceu", "eligible_why"]  # noqa: E712
    assert rows.loc["pdu", "eligible"] == False and "lost utility" in rows.loc["pdu", "eligible_why"]  # noqa: E712
    import re
    html = (tmp_path / "leaderboard.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S).group(1))
    tags = {r["label"]: (r["eligible"], r["eligible_tag"]) for r in data["tasks"][0]["rows"] if not r["reference"]}
    assert tags == {"npo": (True, ""), "graddiff": (True, ""), "ceu": (False, "no forgetting"),
                    "pdu": (False, "utility lost")}
    assert data["runs_folder"] == f"{tmp_path}/runs/"
    from helpers import ARGS, CHROMIUM, _browser
    sync_playwright = _browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto((tmp_path / "leaderboard.html").as_uri())
        page.wait_for_selector("tbody tr")
        marked = {td.evaluate("e => e.parentElement.querySelector('td').innerText.split('\\n')[0]")
                  for td in page.locator("td.best").all()}
        assert marked == {"npo", "graddiff"}, marked  # not ceu's utility, not pdu's forget ROUGE
        assert page.locator(".badge.muted").count() == 2
        assert f"{tmp_path}/runs/" in page.inner_text("#meta")
        browser.close()
