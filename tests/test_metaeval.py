"""The meta-evaluation's formulas (harness/metaeval.py), by hand."""
import pytest

from harness import metaeval as ME


@pytest.mark.parametrize("value,direction,ref,k", [(0.7, "lower", None, 0.7), (0.7, "higher", None, -0.7),
                                                   (-40.0, "zero", None, 40.0), (0.2, "retain", 0.5, 0.3),
                                                   (0.2, "retain", None, None), (None, "lower", None, None)])
def test_orientation_makes_higher_mean_more_knowledge(value, direction, ref, k):
    got = ME.oriented(value, direction, ref)
    assert got == (pytest.approx(k) if k is not None else None)


def test_auc_counts_pairs_and_half_ties():
    # pairs (p, n): (3,1) (3,2) (3,3)=tie (2,1) (2,2)=tie (2,3)<  -> 3 wins + 2 ties/2 = 4 of 6
    assert ME.auc([3, 2], [1, 2, 3]) == pytest.approx(4 / 6)
    assert ME.auc([5, 6], [1, 2]) == 1.0 and ME.auc([1, 2], [5, 6]) == 0.0


def test_auc_interval_is_seeded_and_brackets_a_clean_split():
    lo, hi = ME.auc_interval([5, 6, 7, 8], [1, 2, 3, 4], 200, 0)
    assert lo == hi == 1.0                                  # every resample separates perfectly
    a = ME.auc_interval([1, 5, 2, 6], [3, 4, 2, 7], 500, 1)
    assert a == ME.auc_interval([1, 5, 2, 6], [3, 4, 2, 7], 500, 1) and a[0] < ME.auc([1, 5, 2, 6], [3, 4, 2, 7]) < a[1]


def test_threshold_is_the_most_accurate_cut():
    # P = {4, 5, 6}, N = {1, 2, 4.5}: t = 3.0 (midpoint of 2 and 4) classifies 5 of 6; t = 4.75 also 5 of 6
    # (4 misread); the lowest best is kept
    assert ME.threshold([4, 5, 6], [1, 2, 4.5]) == pytest.approx(3.0)
    assert ME.threshold([4, 5], [1, 2]) == pytest.approx(3.0)


def test_relearning_and_quantisation_stability():
    # the unlearned model gains 0.4, the retain model 0.1 under the same attack: R = 0.25
    assert ME.relearn_stability(0.1, 0.5, 0.2, 0.3) == pytest.approx(0.25)
    assert ME.relearn_stability(0.1, 0.1, 0.2, 0.3) == 1.0          # nothing came back
    assert ME.relearn_stability(0.1, 0.2, 0.2, 0.5) == 1.0          # no more than the retain model: capped
    assert ME.relearn_stability(0.1, 0.3, 0.2, 0.1) == 0.0          # the retain model lost: counted as 0
    # forget_prob 0.2 -> 0.25 under 4 bits: Q = 0.8; falling is capped at 1
    assert ME.quant_stability(0.2, 0.25, "lower") == pytest.approx(0.8)
    assert ME.quant_stability(1.0, 0.5, "lower") == 1.0
    # a truth ratio of 0.8 (k = -0.8) that falls to 0.6 (knowledge back): Q = 0.6 / 0.8 = 0.75
    assert ME.quant_stability(-0.8, -0.6, "higher") == pytest.approx(0.75)
    assert ME.quant_stability(-0.6, -0.8, "higher") == 1.0
    # an unlearned model at 0 that quantisation takes to 0.05: nothing left of its forgetting
    assert ME.quant_stability(0.0, 0.05, "lower") == pytest.approx(0.0, abs=1e-6)
    assert ME.quant_stability(0.0, 0.0, "zero") == 1.0
    assert ME.hm(0.5, 1.0) == pytest.approx(2 / 3) and ME.hm(0.0, 0.0) == 0.0 and ME.hm(None, 1.0) is None


def test_robustness_filters_and_averages_from_the_attack_folders(tmp_path):
    """Three unlearned runs: one counts (R = 0.1/0.4 = 0.25; Q = 0.2/0.25 = 0.8; HM = 0.381), one kept
    too little utility (0.7 < 0.8 x 1.0), one did not forget by this metric (k = 0.6 >= the pools'
    threshold 0.5)."""
    import json

    from harness import metaeval_cmd as MC
    from harness.tasks import MetricSpec

    def run(name, prob, utility):
        f = tmp_path / name
        for p, d in {"metrics.json": {"forget_prob": prob, "model_utility": utility},
                     "attacks/relearn/target.json": {"before": {"model_utility": 1.0}},
                     "attacks/relearn/control.json": {"k0": {"forget_prob": 0.3}, "k10": {"forget_prob": 0.4}},
                     "attacks/relearn/k0/metrics.json": {"forget_prob": prob},
                     "attacks/relearn/k10/metrics.json": {"forget_prob": prob + 0.4},
                     "attacks/quantize/4bit/metrics.json": {"forget_prob": prob + 0.05}}.items():
            (f / p).parent.mkdir(parents=True, exist_ok=True)
            (f / p).write_text(json.dumps(d))
        return f

    runs = [run("a", 0.2, 0.9), run("b", 0.2, 0.7), run("c", 0.6, 0.9)]
    got = MC._robustness("forget_prob", MetricSpec("lower", "forget"), runs, 0.5, "model_utility")
    assert got["n_unlearned"] == 1
    assert got["robust_relearn"] == pytest.approx(0.25)
    assert got["robust_quant"] == pytest.approx(0.8, abs=1e-6)
    assert got["robustness"] == pytest.approx(2 * 0.25 * 0.8 / (0.25 + 0.8), abs=1e-6)


def test_recovery_rows_read_the_attacked_pool_runs(tmp_path):
    """The attacks' recovery numbers get a faithfulness from the pool runs' attack folders: positives
    recover 0.6, (none: the target's level already), 0.3, 0.9; negatives 0.0, 0.1, 0.4, (none). AUC over
    the numbered ones = 8/9 (0.3 < 0.4 is the one pair lost). No quantize folders: no number, n = 0."""
    import json

    from harness import metaeval_cmd as MC
    from harness.tasks import get_task
    members = []
    for i, (label, rec) in enumerate([("P", 0.6), ("P", None), ("P", 0.3), ("P", 0.9),
                                      ("N", 0.0), ("N", 0.1), ("N", 0.4), ("N", None)]):
        f = tmp_path / "meta_eval" / "runs" / f"r{i}"
        (f / "attacks" / "relearn" / "k10").mkdir(parents=True)
        (f / "metrics.json").write_text(json.dumps({"forget_prob": 0.5}))
        (f / "items.jsonl").write_text(json.dumps({"set": "forget", "id": "q1"}) + "\n")
        (f / "attacks" / "relearn" / "k10" / "metrics.json").write_text(json.dumps({"recovery": rec}))
        members.append({"label": label, "folder": f"meta_eval/runs/r{i}", "model": f"<cache>/models/m{i}"})
    rows = {r["metric"]: r for r in MC.score(get_task("tofu_forget10"), members, [], 0, None, tmp_path)}
    rec = rows["relearn_k10_recovery"]
    assert (rec["n_pos"], rec["n_neg"], rec["direction"]) == (3, 3, "lower")
    assert rec["faithfulness"] == pytest.approx(8 / 9) and "robustness" not in rec
    assert rows["quantize_4bit_recovery"]["n_pos"] == 0 and "faithfulness" not in rows["quantize_4bit_recovery"]
    assert rows["forget_prob"]["faithfulness"] == 0.5  # every pool run reads 0.5: all ties
