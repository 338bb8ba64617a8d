"""Adding a task family is a package and task files: a family defined here, in a test file (not in
harness/families/, and named nowhere in the harness), is served by an attack and by SISA without any
other code touched, because attacks and forms ask the track for capabilities, never for a name."""
import json
import shutil
from pathlib import Path

import yaml

from harness.cli import main
from harness.families import get_track, load_tracks, register_track
from harness.families.tofu.track import Tofu

REPO = Path(__file__).resolve().parent.parent


def _toy_family():
    """A new family: the fictitious authors' data and evaluation under another name and title."""
    if "toy_authors" not in load_tracks():
        @register_track("toy_authors")
        class ToyAuthors(Tofu):
            title = "Toy authors: a family from a test folder"
    return get_track("toy_authors")


def _toy_task(folder: Path) -> Path:
    shutil.copy(REPO / "tasks" / "_tofu.yaml", folder / "_tofu.yaml")
    task = yaml.safe_load((REPO / "tasks" / "tofu_forget10.yaml").read_text())
    task.update(name="toy_forget10", family="toy_authors")
    path = folder / "toy_forget10.yaml"
    path.write_text(yaml.safe_dump(task))
    return path


def test_a_family_from_a_test_folder_is_served_by_an_attack_and_sisa(tiny, tmp_path):
    track = _toy_family()
    assert track.name == "toy_authors" and track.units is not None
    task = _toy_task(tmp_path)
    res = tmp_path / "results"
    common = [f"task={task}", f"results_dir={res}", "--quiet", *tiny]
    assert main(["run", "method=grad_ascent", *common]) == 0
    assert main(["run", "method=sisa", "method_args.shards=2", *common]) == 0
    runs = {p.name.split("-")[1]: p for p in (res / "runs").iterdir()}
    assert set(runs) == {"grad_ascent", "sisa_k2"}
    for folder in runs.values():
        assert yaml.safe_load((folder / "task.yaml").read_text())["family"] == "toy_authors"
        assert json.loads((folder / "status.json").read_text())["status"] == "complete"
    shards = json.loads((runs["sisa_k2"] / "model" / "shards.json").read_text())
    assert len(shards) == 2 and sum(s["retrained"] for s in shards) == 1  # one author's shard retrained
    assert main(["attack", str(runs["grad_ascent"]), "quantize", "bits=[8]", "--quiet"]) == 0
    status = json.loads((runs["grad_ascent"] / "attacks" / "quantize" / "status.json").read_text())
    assert status["status"] == "complete"
    assert main(["leaderboard", "--results", str(res)]) == 0
    assert "Toy authors: a family from a test folder" in (res / "leaderboard.html").read_text()
