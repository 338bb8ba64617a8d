"""Checkpoint selection on held-out items (unlearn.select_on=held_out, the default of a rule other than
`last`): the curve measures one half of the forget authors (and retain rows the evaluation does not
score), the run is scored on the other half, so the rule never chooses on the items it reports; rows
that choose on the scored items say so."""
import json

import pytest

from harness.cli import main
from harness.io import write_dataset_dir
from harness.families.tofu.track import selection_split
from harness.families.tofu import world as authors

STEPS = ["unlearn.epochs=2", "unlearn.batch_size=2", "unlearn.retain_batch_size=2", "unlearn.curve_every=2",
         "unlearn.select=max:forget_prob", "unlearn.select_floor=0"]


def _author(name: str, n: int, kind: str) -> list[dict]:
    return [{"id": f"{kind}:{name}:{i}", "question": f"Where did {name} study, part {i}?",
             "answer": f"{name} studied at place {i}.", "paraphrased_answer": f"{name} went to place {i}.",
             "perturbed_answer": [f"{name} went to elsewhere {i}."]} for i in range(n)]


def test_the_split_gives_the_curve_one_half_of_the_authors_and_unscored_retain_rows(tmp_path):
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"profile": {"qa_per_author": 2}}))
    forget = _author("Aria Velloran", 2, "f") + _author("Bram Thornwick", 2, "f") + _author("Celia Ashford", 2, "f")
    scored_retain = _author("Dorian Marridge", 2, "r")
    spare = [{"question": f"Who is Elsa Kestavel {i}?", "answer": "x"} for i in range(3)]
    data = {"forget": forget, "retain": scored_retain + spare,
            "eval": {"forget": forget, "retain": scored_retain, "holdout": []}}
    curve, scored = selection_split(data, str(tmp_path), "t")
    assert [r["id"] for r in curve["eval"]["forget"]] == [r["id"] for r in forget[:2] + forget[4:]]
    assert [r["id"] for r in scored["eval"]["forget"]] == [r["id"] for r in forget[2:4]]
    assert curve["eval"]["retain"] == spare and scored["eval"]["retain"] == scored_retain
    assert scored["forget"] == forget  # every forget author is unlearned; only the scoring is split


def test_one_forget_author_cannot_be_held_out(capsys, tmp_path, tiny):
    rc = main(["run", "task=tofu_forget10", "method=grad_ascent", *tiny, *STEPS, f"results_dir={tmp_path}"])
    err = [x for x in capsys.readouterr().err.strip().splitlines() if x.startswith("error")]
    assert rc == 2 and len(err) == 1 and "forgets 1 author" in err[0] and "select_on=evaluated" in err[0], err
    assert not list((tmp_path / "runs").glob("*"))


def test_a_held_out_rule_scores_only_the_other_half(tmp_path, tiny, monkeypatch):
    """A tiny world whose forget10 has two authors: held out, the run is scored on the second author only
    (against the retain model's numbers on it) and the curve is measured on the first; chosen on the
    scored items, both authors are scored and the row's label says where it chose."""
    monkeypatch.setattr(authors, "n_forget_authors", lambda n, pct: 2 if pct == 0.10 else 1)
    world = write_dataset_dir(tmp_path / "world2", authors.generate("tiny", 0),
                              {"profile": {"qa_per_author": 4, "name": "tiny"}, "seed": 0})
    common = ["task=tofu_forget10", "method=grad_ascent", f"dataset={world}", *tiny, *STEPS, "--quiet"]
    assert main(["run", *common, f"results_dir={tmp_path / 'held'}"]) == 0
    assert main(["run", *common, "unlearn.select_on=evaluated", f"results_dir={tmp_path / 'scored'}"]) == 0
    held, scored = (next((tmp_path / d / "runs").iterdir()) for d in ("held", "scored"))
    forget = [json.loads(x) for x in (world / "forget10_perturbed.jsonl").read_text().splitlines()]
    items = [json.loads(x) for x in (held / "items.jsonl").read_text().splitlines()]
    assert [i["question"] for i in items if i["set"] == "forget"] == [r["question"] for r in forget[4:]]
    m_held, m_scored = (json.loads((f / "metrics.json").read_text()) for f in (held, scored))
    assert m_held["ks_n"] == 4 and m_scored["ks_n"] == 8
    assert all("retain_model_log_truth_ratio" in i for i in items if i["set"] == "forget")
    from harness.leaderboard import build
    rows = {r["run_id"]: r for _, r in build(tmp_path / "held").runs.iterrows()}
    assert rows[held.name]["method"] == "grad_ascent +select:max:forget_prob"
    assert rows[held.name]["select_on"] == "held_out" and rows[held.name]["selected_step"] is not None
    other = build(tmp_path / "scored").runs.iloc[0]
    assert other["method"] == "grad_ascent +select:max:forget_prob (on scored items)"


@pytest.mark.parametrize("rule", ["last"])
def test_select_on_leaves_the_id_of_a_last_step_run_alone(rule):
    from harness import runs
    from harness.config import load_run_config
    ids = {runs.resolve(load_run_config(None, ["method=npo", f"unlearn.select={rule}", f"unlearn.select_on={on}"])).run_id
           for on in ("held_out", "evaluated")}
    assert ids == {runs.resolve(load_run_config(None, ["method=npo"])).run_id}


def test_a_held_out_rule_on_the_document_track(tmp_path, tiny):
    """MUSE: the curve asks one half of the forget events' KnowMem questions and every other retain
    question; the run is scored on the other half's items and the remaining retain questions."""
    from harness.runs import load_data, resolve, split_for_selection
    from harness.config import load_run_config
    args = ["task=muse_news_synthetic", "method=grad_ascent", *tiny, *STEPS[:3], "unlearn.curve_every=2",
            "unlearn.select=min:knowmem_forget_prob", "unlearn.select_floor=0"]
    r = resolve(load_run_config(None, args + [f"results_dir={tmp_path}"]))
    data = load_data(r)
    from harness import models as MD
    curve, scored = split_for_selection(r, data, MD.dataset_source(r.cfg, r.task))
    ev = data["eval"]
    c_ids = {x["id"] for x in curve["eval"]["knowmem_forget"]}
    s_ids = {x["id"] for x in scored["eval"]["knowmem_forget"]}
    assert c_ids and s_ids and not c_ids & s_ids and c_ids | s_ids == {x["id"] for x in ev["knowmem_forget"]}
    assert len(scored["eval"]["verbmem"]) == len(ev["verbmem"]) // 2
    assert [x["id"] for x in curve["eval"]["knowmem_retain"]] == [x["id"] for x in ev["knowmem_retain"][0::2]]
    assert [x["id"] for x in scored["eval"]["knowmem_retain"]] == [x["id"] for x in ev["knowmem_retain"][1::2]]
    assert main(["run", *args, f"results_dir={tmp_path}", "--quiet"]) == 0
    folder = next((tmp_path / "runs").iterdir())
    items = [json.loads(x) for x in (folder / "items.jsonl").read_text().splitlines()]
    assert {i["id"] for i in items if i["set"] == "knowmem_forget"} == s_ids
