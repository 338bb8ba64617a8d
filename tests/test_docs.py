"""The documentation stands alone and its examples work: no reference to files outside the
repository, every example command in the README resolves (config, task, method: no compute)."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness import runs
from harness.grid import grid_configs
from harness.config import load_run_config

REPO = Path(__file__).resolve().parent.parent


def _tracked_text_files():
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    return [REPO / f for f in files if f.endswith((".py", ".md", ".yaml", ".sbatch", ".sh", ".txt", ".ini"))
            and (REPO / f).exists()]


def test_nothing_refers_to_files_outside_the_repository():
    bad = []
    for f in _tracked_text_files():
        if f.name == "test_docs.py":
            continue
        text = f.read_text(encoding="utf-8")
        if re.search(r"\.\./shared|REFERENCE\.md|STACK-NOTES", text):
            bad.append(str(f.relative_to(REPO)))
    assert not bad, f"files citing material outside the repository: {bad}"


def test_docs_define_every_declared_metric_and_every_method():
    from harness.registry import load_methods
    from harness.tasks import get_task, list_tasks
    from harness.families import load_tracks
    metrics_doc = (REPO / "docs" / "metrics.md").read_text()
    methods_doc = (REPO / "docs" / "methods.md").read_text()
    for track in load_tracks().values():  # every metric a track declares
        for name in track.metrics:
            stem = re.sub(r"^(retain|real_authors|world_facts|forget)_(?=(prob|rouge|truth_ratio)$)", "", name)
            assert name in metrics_doc or stem in metrics_doc, name
    for t in list_tasks():  # and the per-task ones (one accuracy per multiple-choice task)
        task = get_task(t)
        for name in load_tracks()[task.family].extra_metrics(task):
            assert (name.endswith("_acc") and "`<task>_acc`" in metrics_doc) or f"**{name}**" in metrics_doc, name
    for name in load_methods():
        assert f"`{name}`" in methods_doc, name
    from harness.forms import load_forms
    for name in load_forms():  # and every other form of unlearning
        assert f"`{name}`" in methods_doc, name
    assert "γ/β" in methods_doc  # SimNPO's delta, in the paper's notation


def _readme_commands():
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```\n(.*?)```", text, re.S)
    cmds = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("python -m harness ") and "<" not in line and \
                    not any(a.startswith("[") for a in line.split()):  # placeholders like [config.yaml]
                cmds.append(line)
    return cmds


@pytest.mark.parametrize("line", _readme_commands())
def test_readme_examples_resolve(line, tmp_path):
    args = shlex.split(line)[3:]
    cmd, rest = args[0], [a for a in args[1:] if not a.startswith("--")]
    assert cmd in ("prepare", "run", "eval", "grid", "sweep", "leaderboard", "list", "attack"), cmd
    if cmd == "sweep":  # the sweep file reads, and every trial resolves
        from harness.sweep import load_sweep
        sw = load_sweep(str(REPO / rest[0]), rest[1:] + [f"results_dir={tmp_path}"])
        assert all(runs.resolve(t.cfg) for t in sw.trials)
        return
    if cmd == "attack":  # the attack exists and takes these arguments (the run folder is the user's)
        from harness.attacks import get_attack
        from harness.config import from_dict, parse_overrides
        attack = get_attack(rest[1])
        assert from_dict(attack.Config, parse_overrides(rest[2:]))
        return
    if cmd not in ("run", "grid"):
        return  # nothing to resolve without compute
    rest = [a for a in rest if not a.startswith(("dataset=/", "model.target=/", "model.retain=/"))]
    if cmd == "run":
        runs.resolve(load_run_config(None, rest + [f"results_dir={tmp_path}"]))
    else:
        path = next((a for a in rest if "=" not in a), "configs/grid_default.yaml")
        configs = grid_configs(str(REPO / path), [a for a in rest if "=" in a])
        assert all(runs.resolve(c) for c in configs)


def test_readme_has_examples():
    cmds = _readme_commands()
    assert any("seeds=[0,1,2]" in c for c in cmds) and any(c.startswith("python -m harness run") for c in cmds)


def test_methods_table_is_current():
    """docs/methods.md's table is what scripts/methods_table.py renders from the registry today."""
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "methods_table.py"), "--check"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, (r.stderr or r.stdout).strip()


def _anchors(path: Path) -> set:
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"#+ (.*)", line)
        if m:
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out


def test_relative_links_resolve():
    """Every relative link of the README and the docs names a file that exists, and an anchor its headings
    make (so a section that moved out of the README cannot leave a dead link behind)."""
    bad = []
    for f in [REPO / "README.md", REPO / "methods" / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = re.sub(r"```.*?```", "", f.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (f.parent / path).resolve() if path else f
            if not dest.exists():
                bad.append(f"{f.relative_to(REPO)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                bad.append(f"{f.relative_to(REPO)}: {target} (no such section)")
    assert not bad, bad
