"""`harness meta-eval` end to end on the two-author tiny world: pools of 4 + 4 models, one NPO run with
its relearn and quantize attacks, the CSV, its recomputation from the folders alone, the placebo and a
leaked-label metric as the procedure's controls."""
import csv
import json
from pathlib import Path

import pytest

from conftest import TINY
from harness import attack_run
from harness import metaeval as ME
from harness import metaeval_cmd as MC
from harness.cli import main
from harness.tasks import MetricSpec, get_task
from two_authors import two_author_world


@pytest.fixture(scope="module")
def meta(tmp_path_factory):
    root = tmp_path_factory.mktemp("meta")
    data = two_author_world(root)
    res = root / "results"
    common = ["task=tofu_forget10", f"dataset={data}", *TINY, f"results_dir={res}"]
    with pytest.MonkeyPatch.context() as mp:
        # ten relearning steps take the 0.07M-parameter control below half its utility on this world, and
        # the damage guard would leave every recovery number empty: the guard is tested in test_attacks.py
        mp.setattr(attack_run, "DAMAGE_SHARE", 0.0)
        assert main(["run", "method=npo", *common, "--quiet"]) == 0
        run = next((res / "runs").glob("tofu_forget10-npo-*"))
        assert main(["attack", str(run), "relearn", "steps=[0,10]", "--quiet"]) == 0
        assert main(["attack", str(run), "quantize", "bits=[4]", "--quiet"]) == 0
        assert main(["meta-eval", "tofu_forget10", *common[1:], "--pool", "4", "--quiet"]) == 0
    return res


def test_the_csv_has_every_forget_metric_and_the_placebo(meta):
    rows = list(csv.DictReader((meta / "meta_eval.csv").open()))
    assert list(rows[0]) == MC.COLUMNS
    task = get_task("tofu_forget10")
    recovery = {"relearn_k10_recovery", "quantize_4bit_recovery"}
    assert {r["metric"] for r in rows} == set(MC.forget_metrics(task)) | {"placebo"} | recovery
    assert all(r["n_pos"] == r["n_neg"] == "4" for r in rows if r["metric"] not in recovery)
    # every pool run was attacked as the unlearned run was; a recovery number exists where the pool model
    # knows less than the target (it is empty for a model at the target's level)
    pools = json.loads((meta / "meta_eval" / "tofu_forget10" / "pools.json").read_text())
    for m in pools["members"]:
        assert (meta / m["folder"] / "attacks" / "relearn" / "k10" / "metrics.json").is_file()
        assert (meta / m["folder"] / "attacks" / "quantize" / "4bit" / "metrics.json").is_file()
    assert int(next(r for r in rows if r["metric"] == "relearn_k10_recovery")["n_neg"]) >= 2
    placebo = next(r for r in rows if r["metric"] == "placebo")
    assert float(placebo["faith_low"]) <= 0.5 <= float(placebo["faith_high"])
    # the answers a model fine-tuned on are more probable under it than under one that never saw them
    prob = next(r for r in rows if r["metric"] == "forget_prob")
    assert float(prob["faithfulness"]) > 0.5


def test_every_number_is_recomputed_from_the_folders(meta):
    pools = json.loads((meta / "meta_eval" / "tofu_forget10" / "pools.json").read_text())
    assert [m["label"] for m in pools["members"]] == ["P", "N"] * 4
    # each run is named by the model it evaluated; paths are recorded as in any clone
    for m in pools["members"]:
        role = "target" if m["label"] == "P" else "retain"
        assert m["run_id"].startswith(f"tofu_forget10-eval-{role}-") and m["model"].startswith("<cache>/models/")
    assert len({m["recipe"]["epochs"] for m in pools["members"]}) > 1  # under-trained variants too
    unlearned = [meta / "runs" / n for n in pools["unlearned"]]
    rows = MC.score(get_task("tofu_forget10"), pools["members"], unlearned, 0, "model_utility", meta)
    written = {r["metric"]: r for r in csv.DictReader((meta / "meta_eval.csv").open())}
    for r in rows:
        for c in ("faithfulness", "faith_low", "faith_high", "robustness"):
            want = written[r["metric"]][c]
            assert (want == "" and r.get(c) is None) or float(want) == pytest.approx(r[c]), (r["metric"], c)
    # by hand for one metric: the AUC of forget_prob from the pool runs' metrics.json
    k = {lb: [json.loads((meta / m["folder"] / "metrics.json").read_text())["forget_prob"]
              for m in pools["members"] if m["label"] == lb] for lb in "PN"}
    assert float(written["forget_prob"]["faithfulness"]) == pytest.approx(ME.auc(k["P"], k["N"]))


def test_a_metric_that_reads_the_pool_label_is_perfectly_faithful(meta, monkeypatch):
    """The leak control: a metric equal to the pool label (1 for a model that saw the forget data) must
    come out at 1.0, interval included."""
    pools = json.loads((meta / "meta_eval" / "tofu_forget10" / "pools.json").read_text())
    members = pools["members"]
    task = get_task("tofu_forget10")
    monkeypatch.setattr(MC, "forget_metrics", lambda t: {"leaked": MetricSpec("lower", "forget")})
    label = {str(meta / m["folder"]): 1.0 if m["label"] == "P" else 0.0 for m in members}
    real_k = MC._k
    monkeypatch.setattr(MC, "_k", lambda metrics, name, spec: metrics["_leak"] if name == "leaked" else real_k(metrics, name, spec))
    real_read = Path.read_text

    def read_text(self, *a, **k):  # each pool run's metrics.json carries its label
        text = real_read(self, *a, **k)
        if self.name == "metrics.json" and str(self.parent) in label:
            return json.dumps({**json.loads(text), "_leak": label[str(self.parent)]})
        return text
    monkeypatch.setattr(Path, "read_text", read_text)
    rows = MC.score(task, members, [], 0, None, meta)
    leak = next(r for r in rows if r["metric"] == "leaked")
    assert leak["faithfulness"] == 1.0 and leak["faith_low"] == leak["faith_high"] == 1.0


def test_bad_input_is_one_line_before_any_training(meta, capsys):
    assert main(["meta-eval", "tofu_forget10", "--pool", "2"]) == 2
    assert main(["meta-eval", "wmdp_synthetic"]) == 2
    assert main(["meta-eval", "tofu_forget10", f"results_dir={meta / 'nothing'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "too small" in err[0] and "no retain model" in err[1] and "attacks" in err[2]
