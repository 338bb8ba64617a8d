"""The forget scope of the document track (MUSE scalability and sustainability): on a part of the forget
set the forget metrics cover the requested events' items alone and PrivLeak is not reported (its
reference, a model retrained without exactly those events, is not built); real data then reports
utility only. Counted by hand on the tiny news world from its generation order (news.generate: forget
event i is raw/forget rows 2i and 2i+1, verbmem row i, knowmem/forget_qa rows 2i and 2i+1, privleak/forget
row i; the scal and sust splits take the events in that order, a quarter at a time), an order the scope
does not use (it matches town names)."""
import json
from pathlib import Path

import pytest

from harness import models as MD
from harness import runs
from harness.families.muse import scope as musescope
from harness.cli import main
from harness.config import load_run_config
from harness.families.muse import world as news

EVENTS = news.PROFILES["tiny"][0]      # 8 forget events in the tiny world
QUARTER = EVENTS // 4                  # events per scal step / sust request
FORGET_SIDE = ("verbmem", "knowmem_forget", "privleak_forget")


def _data(task: str, *args: str) -> dict:
    r = runs.resolve(load_run_config(None, [f"task={task}", "method=npo", "world.profile=tiny", *args]))
    return runs.load_data(r, MD.dataset_source(r.cfg, r.task))


def _ids(n_events: int) -> dict:
    """The ids of the forget-side items of the first n events, by the world's generation order."""
    return {"verbmem": [f"verbmem/forget:{i}" for i in range(n_events)],
            "knowmem_forget": [f"knowmem/forget_qa:{j}" for j in range(news.QA_PER_ARTICLE * n_events)],
            "privleak_forget": [f"privleak/forget:{i}" for i in range(n_events)]}


def _check(scope: dict, data: dict, n_events: int) -> None:
    ev = scope["eval"]
    assert {k: [r["id"] for r in ev[k]] for k in FORGET_SIDE} == _ids(n_events)
    assert "privleak_holdout" not in ev   # scored for the AUCs alone, which are not reported
    for k in ("knowmem_retain", "knowmem_retain_icl", "knowmem_forget_icl", "privleak_retain"):
        assert ev[k] == data["eval"][k]   # utility and the prompts' examples untouched
    assert scope["note"].startswith(f"the {n_events} requested events of {EVENTS} (verbmem {n_events}, "
                                    f"knowmem_forget {2 * n_events}, privleak_forget {n_events} items)")


@pytest.mark.parametrize("k", [1, 2, 3])
def test_scalability_scores_the_requested_events_alone(k):
    """scal1 on the tiny world: 2 events of 8, so 2 verbmem rows, 4 knowmem questions, 2 privleak texts."""
    data = _data(f"muse_news_synthetic_scal{k}")
    _check(musescope.scope(data), data, QUARTER * k)


def test_the_whole_forget_set_keeps_every_metric():
    assert musescope.scope(_data("muse_news_synthetic")) is None
    assert musescope.scope(_data("muse_news_synthetic_scal4")) is None   # forget_4 is the whole forget set


def test_sustainability_scores_the_events_requested_so_far():
    """After request i of 4 (disjoint quarters): the first 2i events; the four together are the forget
    set, so after the last every metric applies."""
    data = _data("muse_news_synthetic_sust")
    for i in (1, 2, 3):
        _check(musescope.scope({**data, "requests_done": i}), data, QUARTER * i)
    assert musescope.scope({**data, "requests_done": 4}) is None
    assert musescope.scope(data) is None   # the run's own evaluation, after every request


def test_real_data_on_a_part_of_the_forget_set_is_utility_only(tmp_path):
    """A local copy in MUSE's layout (no world manifest: no event mapping): the whole forget set keeps
    every metric; a scal split reports utility only."""
    from tests.test_muse import _fixture
    folder = tmp_path / "data"
    _fixture(folder)
    full = _data("muse_news", f"dataset={folder}")
    assert musescope.scope(full) is None
    part = tmp_path / "scal.yaml"
    tasks = Path(__file__).resolve().parent.parent / "tasks"
    part.write_text(f"include: {tasks / 'muse_news.yaml'}\nname: real_scal\nversion: 1\n"
                    "splits: {forget: scal/forget_1}\n")
    scope = musescope.scope(_data(str(part), f"dataset={folder}"))
    assert set(scope["eval"]) == {"knowmem_retain", "knowmem_retain_icl", "knowmem_forget_icl", "privleak_retain"}
    assert scope["note"].startswith("utility only: 4 of the 16 forget texts requested")


MUSE_TINY = ["eval.bootstrap=50"]


def test_scalability_run_reports_requested_items_and_no_privleak(tmp_path, tiny):
    """scal1 end to end: items.jsonl holds exactly the requested events' forget items (all the retain
    questions), metrics.json has no privleak or MIA AUCs but says why, and its numbers are those items'."""
    out = tmp_path / "r"
    assert main(["run", "task=muse_news_synthetic_scal1", "method=grad_ascent", *tiny, *MUSE_TINY,
                 f"results_dir={out}", "--quiet"]) == 0
    folder = next((out / "runs").iterdir())
    metrics = json.loads((folder / "metrics.json").read_text())
    items = [json.loads(x) for x in (folder / "items.jsonl").read_text().splitlines()]
    by_set = {s: [i for i in items if i["set"] == s] for s in {i["set"] for i in items}}
    assert {k: [i["id"] for i in by_set[k]] for k in FORGET_SIDE} == _ids(QUARTER)
    assert "privleak_holdout" not in by_set and len(by_set["knowmem_retain"]) == 2 * EVENTS
    assert not [k for k in metrics if "privleak" == k or k.startswith(("mia_auc", "retain_model_mia_auc"))]
    assert metrics["forget_scope"].startswith(f"the {QUARTER} requested events of {EVENTS}")
    for k, s, c in (("verbmem", "verbmem", "rouge_f1"), ("knowmem_forget", "knowmem_forget", "rouge_f1"),
                    ("exact_memorization", "privleak_forget", "exact_memorization")):
        assert metrics[k] == pytest.approx(sum(i[c] for i in by_set[s]) / len(by_set[s]))
