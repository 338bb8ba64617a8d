"""`grid --workers N`: worker processes share one grid through the run claims, and the results do not
depend on how many workers computed them."""
import json

from harness.cli import main
from harness.workers import order


def test_worker_orders_by_hand():
    assert order(5, 0, 2) == [0, 1, 2, 3, 4]
    assert order(5, 1, 2) == [4, 3, 2, 1, 0]          # the second worker starts from the end
    assert order(6, 2, 3) == [2, 1, 0, 5, 4, 3]       # a third starts backwards half-way
    for w in range(3):
        assert sorted(order(7, w, 3)) == list(range(7))


def test_two_workers_give_the_numbers_of_one(tmp_path, tiny):
    grid = tmp_path / "g.yaml"
    grid.write_text("tasks: [tofu_forget01]\nmethods: [graddiff, npo]\nadapters: [none]\nseeds: [0]\n"
                    f"baselines: [target]\noverrides: {json.dumps(tiny)}\n")
    assert main(["grid", str(grid), f"results_dir={tmp_path / 'one'}", "--quiet"]) == 0
    assert main(["grid", str(grid), f"results_dir={tmp_path / 'two'}", "--quiet", "--workers", "2"]) == 0
    one, two = (sorted((tmp_path / d / "runs").iterdir()) for d in ("one", "two"))
    assert [p.name for p in one] == [p.name for p in two] and len(one) == 3
    for a, b in zip(one, two):
        assert (a / "metrics.json").read_text() == (b / "metrics.json").read_text(), a.name
    assert (tmp_path / "two" / "leaderboard.csv").exists()
    assert not list((tmp_path / "two" / ".claims").glob("*.lock"))  # every claim released


def test_busy_cache_entries_are_skipped_not_waited_for(tmp_path):
    """Inside without_waiting(), an entry another owner is building raises Busy at once; outside,
    build_once builds what is free."""
    import pytest

    from harness.claim import Busy, Claim, build_once, without_waiting
    target, done = tmp_path / "model", tmp_path / "model" / "DONE"
    other = Claim(target)            # another owner (a live pid) holds the entry
    assert other.acquire()
    built = []
    with without_waiting(), pytest.raises(Busy, match="being built by"):
        build_once(target, done, lambda: built.append(1))
    other.release()
    with without_waiting():
        build_once(target, done, lambda: (built.append(1), done.parent.mkdir(), done.write_text("")))
    assert built == [1] and done.exists()


def test_prepare_ahead_builds_each_model_set_once_and_skips_busy_ones(tiny, monkeypatch):
    """A worker prepares the models of its runs in its own order, once per model set; a set another
    worker is building is skipped (counted), never waited for."""
    from harness import models as MD
    from harness.claim import Busy
    from harness.config import load_run_config
    from harness.runs import resolve
    from harness.workers import prepare_ahead
    rs = [resolve(load_run_config(None, tiny + [f"task={t}", f"method={m}"]))
          for t in ("tofu_forget01", "tofu_forget05") for m in ("grad_ascent", "npo")]
    calls = []

    def fake(cfg, task, progress=True):
        calls.append(task.name)
        if task.name == "tofu_forget05":
            raise Busy("being built by another worker")
    monkeypatch.setattr(MD, "prepare_models", fake)
    assert prepare_ahead(rs, progress=False) == 1
    assert calls == ["tofu_forget01", "tofu_forget05"]   # one call per model set, in the run order
