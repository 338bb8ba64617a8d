"""The replication statistics (harness/replication.py) on data with a known answer."""
from pathlib import Path

import numpy as np
import pytest

from harness import replication as R


def test_goodness_orients_every_direction():
    assert R.goodness(0.3, "higher") == 0.3 and R.goodness(0.3, "lower") == -0.3
    assert R.goodness(-20.0, "zero") == -20.0 and R.goodness(20.0, "zero") == -20.0
    assert R.goodness(0.40, "retain", ideal=0.45) == pytest.approx(-0.05)
    with pytest.raises(ValueError, match="retain model's value"):
        R.goodness(0.4, "retain")


def test_cells_and_the_estimate_weigh_every_world_the_same():
    # world 0 has two runs (1 and 3: mean 2), world 1 one run (10): the estimate is (2 + 10) / 2 = 6,
    # not the mean of the three runs (14 / 3)
    c = R.Cells.of({"a": {(0, 0): 1.0, (0, 1): 3.0, (1, 0): 10.0}})
    assert c.methods == ["a"] and c.worlds == [0, 1] and c.runs == [0, 1]
    assert np.isnan(c.values[0, 1, 1])
    assert R.estimate(c.values)[0] == pytest.approx(6.0)


def test_a_constant_method_has_a_zero_width_interval_and_draws_are_seeded():
    c = R.Cells.of({"a": {(w, r): 0.5 for w in range(4) for r in range(2)},
                    "b": {(w, r): float(w) for w in range(4) for r in range(2)}})
    d = R.draws(c, n=300)
    assert d.shape == (300, 2) and np.all(d[:, 0] == 0.5)
    assert np.array_equal(d, R.draws(c, n=300))            # the same seed, the same draws
    assert not np.array_equal(d, R.draws(c, n=300, seed=1))
    lo, hi = np.percentile(d[:, 1], [2.5, 97.5])
    assert 0.0 <= lo < 1.5 < hi <= 3.0                     # b's worlds are 0..3: its mean 1.5 inside


def test_the_world_is_the_unit_of_resampling():
    """Runs within a world that agree perfectly add no information: with 2 worlds of values 0 and 1,
    each draw's estimate is 0, 0.5 or 1 (two worlds drawn), whatever the number of runs per world."""
    c = R.Cells.of({"a": {(w, r): float(w) for w in range(2) for r in range(50)}})
    vals = set(np.round(R.draws(c, n=400)[:, 0], 9))
    assert vals <= {0.0, 0.5, 1.0} and len(vals) == 3


def test_ranks_and_holm_by_hand():
    assert list(R.ranks(np.array([0.1, 0.9, 0.5]))) == [3.0, 1.0, 2.0]
    assert list(R.ranks(np.array([0.5, 0.5, 0.1]))) == [1.5, 1.5, 3.0]
    # Holm: sorted 0.01, 0.02, 0.04 times 3, 2, 1 -> 0.03, 0.04, 0.04 (kept monotone); in input order
    assert R.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert R.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


def test_variance_share_by_hand():
    # worlds (0, 2) and (10, 12): within-world MS = ((1+1) + (1+1)) / (4 - 2) = 2; world means 1 and 11,
    # grand 6, between MS = 2 * (25 + 25) / 1 = 100; world variance (100 - 2) / 2 = 49; share 49 / 51
    world, run, share = R.variance_share(np.array([[0.0, 2.0], [10.0, 12.0]]))
    assert (world, run) == (pytest.approx(49.0), pytest.approx(2.0)) and share == pytest.approx(49 / 51)
    assert R.variance_share(np.array([[1.0, 2.0]])) == (None, None, None)     # one world
    assert R.variance_share(np.array([[1.0], [2.0]])) == (None, None, None)   # one run per world


def _runs(values: dict, direction: str = "higher") -> list[dict]:
    """read_runs-shaped records: {method: {(world, run): value}} on one task, one headline metric."""
    spec = {"m": {"direction": direction, "headline": True}}
    return [{"task": "t", "family": "f", "method": meth, "world": w, "run": r, "metrics": {"m": v}, "specs": spec,
             "folder": f"{meth}-{w}-{r}"} for meth, cells in values.items() for (w, r), v in cells.items()]


def test_a_study_with_a_known_answer():
    """a is b + 1 in every world and run; c equals b: a beats both surely (interval [1, 1], P = 1,
    significant after Holm), b and c tie (P = 0.5, p = 1); a ranks first in every draw, b and c share
    ranks 2 and 3 (2.5 each)."""
    from harness.significance import study
    cells = [(w, r) for w in range(5) for r in range(2)]
    runs = _runs({"a": {c: c[0] + 1.0 + 0.1 * c[1] for c in cells}, "b": {c: c[0] + 0.1 * c[1] for c in cells},
                  "c": {c: c[0] + 0.1 * c[1] for c in cells}})
    ranks, pairs = study(runs, n=200)
    by = {r["method"]: r for r in ranks}
    assert by["a"]["rank_low"] == by["a"]["rank_high"] == 1.0 and by["b"]["rank_mean"] == 2.5
    assert by["a"]["n"] == 10 and by["a"]["n_worlds"] == 5 and by["b"]["mean"] == pytest.approx(2.05)
    assert by["b"]["world_share"] > 0.99          # the worlds (0..4) make all the spread
    ab = next(p for p in pairs if {p["method_a"], p["method_b"]} == {"a", "b"})
    assert ab["method_a"] == "a" and ab["mean_diff"] == pytest.approx(1.0)
    assert (ab["ci_low"], ab["ci_high"]) == (pytest.approx(1.0), pytest.approx(1.0))
    assert ab["p_a_better"] == 1.0 and ab["significant"] and ab["n_pairs"] == 10
    bc = next(p for p in pairs if {p["method_a"], p["method_b"]} == {"b", "c"})
    assert bc["p_a_better"] == 0.5 and bc["p_value"] == 1.0 and not bc["significant"]


def test_lower_is_better_flips_the_pair_and_noise_is_not_significant():
    from harness.significance import study
    rng = np.random.default_rng(3)
    cells = [(w, r) for w in range(4) for r in range(2)]
    runs = _runs({"x": {c: float(rng.normal()) for c in cells}, "y": {c: float(rng.normal()) + 5 for c in cells},
                  "z": {c: float(rng.normal()) for c in cells}}, direction="lower")
    ranks, pairs = study(runs, n=300)
    xy = next(p for p in pairs if {p["method_a"], p["method_b"]} == {"x", "y"})
    assert xy["method_b"] == "y" and xy["mean_diff"] > 3 and xy["significant"]   # y is 5 worse (higher)
    assert {r["method"]: r["rank_high"] for r in ranks}["y"] == 3.0 and xy["n_worlds"] == 4


def test_noise_is_significant_about_5_percent_of_the_time():
    """Calibration under no difference: two methods drawn alike (a world effect both share, as a world's
    models do, plus run noise), 400 studies of 5 worlds x 2 runs: the world-level t-test calls about 5%
    of them significant at 0.05 and about none at 0.001 (a Holm level over dozens of pairs), and its
    interval covers 0 about 95% of the time. The hierarchical bootstrap's p-value, which this replaced,
    is 0 whenever the 5 worlds agree in sign (1 time in 16 under no difference), so at 0.001 it still
    rejects about 6% of the time: checked here too."""
    from harness import replication as R
    rng = np.random.default_rng(7)
    sig = strict = cover = boot_sig = 0
    n = 400
    for _ in range(n):
        world = rng.normal(0, 1.0, 5)
        d = np.array([[world[w] + rng.normal(0, 0.5) - (world[w] + rng.normal(0, 0.5)) + rng.normal(0, 0.7)
                       for r in range(2)] for w in range(5)])       # A - B per (world, run)
        p, _ = R.paired_t(d.mean(axis=1))
        lo, hi = R.t_interval(d.mean(axis=1))
        sig += p < 0.05
        strict += p < 0.001
        cover += lo <= 0 <= hi
        one = d[:, :1]                              # one run per world: the bootstrap over worlds alone
        b = R.draws(R.Cells(["d"], list(range(5)), [0], one[None]), n=200, seed=0)[:, 0]
        boot_sig += 2 * min(np.mean(b <= 0), np.mean(b >= 0)) < 0.001
    assert 0.02 <= sig / n <= 0.09 and strict / n <= 0.01 and 0.91 <= cover / n <= 0.98
    assert boot_sig / n > 0.03                      # the bootstrap over 5 worlds: ~1 in 16 at any level


def _independent_interval(values: dict) -> tuple[float, float]:
    """docs/statistics.md's interval of a method's mean, written again from the docs: each world's mean
    over its runs, then mean +/- t(0.975, W - 1) x their standard deviation / sqrt(W)."""
    from scipy import stats
    worlds = sorted({w for w, _ in values})
    means = [np.mean([v for (ww, _), v in values.items() if ww == w]) for w in worlds]
    half = stats.t.ppf(0.975, len(means) - 1) * np.std(means, ddof=1) / np.sqrt(len(means))
    return float(np.mean(means) - half), float(np.mean(means) + half)


def test_a_tiny_study_is_recomputed_from_its_run_folders(tmp_path, tiny, capsys):
    """A study grid over two worlds: `significance` writes the three CSVs, and each method's interval
    in significance_ranks.csv is recomputed from the run folders' metrics.json and config.yaml alone, as
    the docs define it. One world only: one line, per-run numbers kept."""
    import csv
    import json

    import yaml

    from harness.cli import main
    grid = tmp_path / "study.yaml"
    grid.write_text("tasks: [tofu_forget10]\nmethods: [grad_ascent, graddiff]\nworld_seeds: [0, 1]\nseeds: [0, 1]\n"
                    f"overrides: {json.dumps(tiny)}\n")
    res = tmp_path / "results"
    assert main(["grid", str(grid), f"results_dir={res}", "--quiet"]) == 0
    assert main(["significance", str(grid), f"results_dir={res}"]) == 0
    ranks = list(csv.DictReader((res / "significance_ranks.csv").open()))
    pairs = list(csv.DictReader((res / "significance_pairs.csv").open()))
    assert {r["method"] for r in ranks} == {"grad_ascent", "graddiff"} and len(pairs) == 5  # 4 metrics + summary
    values: dict = {}
    for f in (res / "runs").iterdir():
        cfg = yaml.safe_load((f / "config.yaml").read_text())
        m = json.loads((f / "metrics.json").read_text())
        values.setdefault(cfg["method"], {})[(cfg["world"]["seed"], cfg["seed"])] = m["model_utility"]
    for row in ranks:
        if row["metric"] == "model_utility":
            v = values[row["method"]]
            assert len(v) == int(row["n"]) == 4 and row["n_worlds"] == "2"
            lo, hi = _independent_interval(v)
            assert (float(row["ci_low"]), float(row["ci_high"])) == (pytest.approx(lo, abs=1e-12),
                                                                     pytest.approx(hi, abs=1e-12))
    page = (res / "leaderboard.html").read_text()   # the grid's page: its "How sure is this?" part
    assert "How sure is this?" in page and "2 world seeds" in page and "no ranking is claimed" not in page
    capsys.readouterr()
    assert main(["significance", str(grid), f"results_dir={res}", "world_seeds=[0]"]) == 0
    assert "too few to compute an interval" in capsys.readouterr().err
    assert (res / "significance_runs.csv").read_text().count("\n") == 1 + 4 * 4   # 4 runs x 4 headline metrics


def test_the_page_claims_no_ranking_from_one_world_and_draws_intervals_from_several():
    from harness.significance import NO_RANKING, page_plots, study
    assert page_plots("t", None) == [NO_RANKING] and "no ranking is claimed" in NO_RANKING
    assert page_plots("t", {"ranks": [], "pairs": [], "worlds": 1}) == [NO_RANKING]
    cells = [(w, r) for w in range(3) for r in range(2)]
    ranks, pairs = study(_runs({"a": {c: c[0] + 1.0 for c in cells}, "b": {c: float(c[0]) for c in cells}}), n=100)
    out = page_plots("t", {"ranks": ranks, "pairs": pairs, "worlds": 3, "resolves": [("m", 0.25)],
                           "retain_auc": {"mean": 0.5, "ci_low": 0.45, "ci_high": 0.55}})
    assert "m 0.25" in out[0] and "0.50 [0.45, 0.55]" in out[0]
    assert "3 world seeds" in out[0] and all(x.startswith("<svg") for x in out[1:]) and len(out) == 3


def test_minimum_detectable_difference_by_hand():
    """world variance 0.04, run variance 0.02, 5 worlds x 2 runs: SE = sqrt(0.04/5 + 0.02/10) = 0.1;
    one pair, t on 4 degrees of freedom: (t_0.975 + t_0.8) x 0.1 = (2.776445 + 0.940965) x 0.1 = 0.371741."""
    from harness.power import mdd, table
    assert mdd(0.04, 0.02, 5, 2, 1) == pytest.approx(0.371741, abs=1e-6)
    assert mdd(0.04, 0.02, 5, 2, 10) > mdd(0.04, 0.02, 5, 2, 1)           # more pairs, stricter level
    assert mdd(0.04, 0.02, 10, 2, 1) < mdd(0.04, 0.02, 5, 2, 1)           # more worlds, finer
    cells = [(w, r) for w in range(4) for r in range(2)]
    rng = np.random.default_rng(0)
    shift = {w: rng.normal() for w in range(4)}
    recs = _runs({"a": {c: shift[c[0]] + 0.1 * rng.normal() for c in cells}, "b": {c: 0.0 for c in cells}})
    (row,) = table({"t": recs}, designs=((5, 2),))
    assert row["pairs"] == 1 and row["world_share"] > 0.8 and row["mdd_w5_r2"] > 0


def test_methods_within_noise_of_the_leader_share_its_mark():
    from harness.significance import tied_with_leader
    ranks = [{"metric": "m", "method": "a", "rank_mean": 1.2, "rank_low": 1.0, "rank_high": 2.0},
             {"metric": "m", "method": "b", "rank_mean": 1.9, "rank_low": 1.0, "rank_high": 3.0},
             {"metric": "m", "method": "c", "rank_mean": 3.0, "rank_low": 3.0, "rank_high": 3.0}]
    assert tied_with_leader(ranks) == {"m": ["b"]}


def test_the_author_track_says_what_its_split_resolves():
    """forget quality over 10 items cannot go below 2 / C(20, 10) = 1.1e-5; the note gives it beside the
    target's own value."""
    import pandas as pd

    from harness.families.tofu.track import resolution_note
    rows = pd.DataFrame([{"method": "target", "reference_row": True, "ks_n": 10, "forget_quality": 0.012},
                         {"method": "npo", "reference_row": False, "ks_n": 10, "forget_quality": 0.5}])
    (note,) = resolution_note(rows)
    assert "10 forget items" in note and "1.1e-05" in note and "scores 0.012" in note
    assert resolution_note(rows[rows["method"] == "npo"]) == []


def test_significance_refuses_in_one_line_before_any_compute(tmp_path, capsys):
    """No grid file, or a study whose runs are not computed yet: exit 2, one line, nothing trained."""
    from harness.cli import main
    assert main(["significance"]) == 2
    assert "give the study's grid file" in capsys.readouterr().err
    grid = tmp_path / "study.yaml"
    grid.write_text("tasks: [tofu_forget10]\nmethods: [npo]\nworld_seeds: [0, 1]\nseeds: [0]\n")
    assert main(["significance", str(grid), f"results_dir={tmp_path / 'res'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 runs are not complete" in err[0] and "harness grid" in err[0]
    assert not (tmp_path / "res" / "runs").exists()
    grid.write_text("tasks: [tofu_forget10]\nmethods: [npo]\nworld_seeds: [1, 1]\n")
    assert main(["significance", str(grid)]) == 2
    assert "distinct world seeds" in capsys.readouterr().err


def test_the_summary_score_ranks_methods_by_their_mean_rank_over_headline_metrics():
    """a is best on both headline metrics and c worst on both: summary ranks 1, 2, 3 in every draw."""
    from harness.significance import SUMMARY, study
    cells = [(w, r) for w in range(3) for r in range(2)]
    spec = {"m1": {"direction": "higher", "headline": True}, "m2": {"direction": "lower", "headline": True}}
    vals = {"a": (3.0, 0.0), "b": (2.0, 1.0), "c": (1.0, 2.0)}
    runs = [{"task": "t", "family": "f", "method": m, "world": w, "run": r, "specs": spec,
             "metrics": {"m1": v1 + 0.01 * w, "m2": v2 + 0.01 * r}} for m, (v1, v2) in vals.items() for w, r in cells]
    ranks, _ = study(runs, n=100)
    summ = {r["method"]: r for r in ranks if r["metric"] == SUMMARY}
    assert [summ[m]["rank_low"] for m in "abc"] == [1.0, 2.0, 3.0] == [summ[m]["rank_high"] for m in "abc"]
    assert summ["a"]["mean"] == 1.0 and summ["c"]["ci_low"] == summ["c"]["ci_high"] == 3.0


def test_the_retain_models_auc_over_worlds():
    from harness.significance import retain_auc
    recs = [{"world": w, "metrics": {"retain_model_mia_auc_min_k": v}} for w, v in ((0, 0.4), (0, 0.4), (1, 0.6))]
    got = retain_auc(recs)
    assert got["n_worlds"] == 2 and got["mean"] == pytest.approx(0.5) and got["per_world"] == {0: 0.4, 1: 0.6}
    # t interval over 2 worlds: 0.5 -/+ t_0.975,1 (12.706) x sd 0.1414 / sqrt 2 = 0.5 -/+ 1.2706
    assert (got["ci_low"], got["ci_high"]) == (pytest.approx(0.5 - 1.27062, abs=1e-4), pytest.approx(0.5 + 1.27062, abs=1e-4))
    assert retain_auc([{"world": 0, "metrics": {}}]) is None


def test_the_readme_tables_come_from_the_study_csvs(tmp_path):
    """scripts/significance_tables.py: a method's wins and losses are its Holm-significant summary pairs
    (A is the better one), the side-by-side rows sort by mean rank over the tasks, counts are per metric."""
    import csv
    import importlib.util
    spec = importlib.util.spec_from_file_location("tables", Path(__file__).parent.parent / "scripts" / "significance_tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    S = "summary_mean_rank"
    ranks = [{"task": t, "metric": S, "method": m, "n_worlds": "5", "mean": str(v), "rank_low": lo, "rank_high": hi}
             for t, rows in (("tofu_forget05", [("a", 1.2, "1", "2"), ("b", 1.8, "1", "2"), ("c", 3.0, "3", "3")]),
                             ("tofu_forget10", [("a", 2.5, "1", "3"), ("b", 1.5, "1", "2"), ("c", 2.0, "1", "3")]))
             for m, v, lo, hi in rows]
    pairs = [{"task": "tofu_forget05", "metric": S, "method_a": "a", "method_b": "c", "mean_diff": "1.8", "significant": "True"},
             {"task": "tofu_forget05", "metric": S, "method_a": "b", "method_b": "c", "mean_diff": "1.2", "significant": "True"},
             {"task": "tofu_forget05", "metric": S, "method_a": "a", "method_b": "b", "mean_diff": "0.6", "significant": "False"},
             {"task": "tofu_forget05", "metric": "forget_rouge", "method_a": "a", "method_b": "b", "mean_diff": "0.1",
              "significant": "False"}]
    one = tables.summary_table(ranks, pairs, "tofu_forget05").splitlines()
    assert one[2:] == ["| a | 1.2 | 1-2 | 1 | 0 |", "| b | 1.8 | 1-2 | 1 | 0 |", "| c | 3.0 | 3-3 | 0 | 2 |"]
    both = tables.side_by_side(ranks, ["tofu_forget05", "tofu_forget10"], pairs).splitlines()
    assert [r.split(" | ")[0] for r in both[2:]] == ["| b", "| a", "| c"]  # 3.3, 3.7, 5.0
    assert both[2] == "| b | 1.8, 1-2, 1 / 0 | 1.5, 1-2, 0 / 0 |"
    assert both[4] == "| c | 3.0, 3-3, 0 / 2 | 2.0, 1-3, 0 / 0 |"
    counts = tables.pair_counts(pairs).splitlines()
    assert counts[2:] == ["| tofu_forget05 | forget_rouge | 0 of 1 |", "| tofu_forget05 | summary_mean_rank | 2 of 3 |"]
