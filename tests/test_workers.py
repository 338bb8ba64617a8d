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
