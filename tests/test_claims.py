"""Two processes on one results folder never compute the same run; dead owners' claims and scratch
folders are cleaned up."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest
from pathlib import Path

from harness import runs
from harness.claim import Claim, is_stale, owner, scratch_name
from harness.cli import main
from harness.config import load_run_config

REPO = Path(__file__).resolve().parent.parent


def _hold_lock(lock: Path, pid: int, host: str | None = None, age_s: float = 0.0) -> None:
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"host": host or socket.gethostname(), "pid": pid, "started": time.time()}))
    if age_s:
        os.utime(lock, (time.time() - age_s, time.time() - age_s))


def test_claim_is_exclusive_and_stale_claims_are_taken_over(tmp_path):
    target = tmp_path / "runs" / "r1"
    with Claim(target) as a:
        assert a.held
        with Claim(target) as b:  # the same live process, a second claim: refused
            assert not b.held and str(os.getpid()) in b.holder
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = target.with_name(".r1.lock")
        _hold_lock(lock, sleeper.pid)
        assert not is_stale(owner(lock))
        with Claim(target) as c:
            assert not c.held and str(sleeper.pid) in c.holder
    finally:
        sleeper.kill()
        sleeper.wait()
    assert is_stale(owner(lock))  # its owner is gone
    with Claim(target) as d:
        assert d.held
    assert not lock.exists()  # released
    # another host: judged by its heartbeat's age
    _hold_lock(lock, 1, host="some-other-node", age_s=30)
    assert not is_stale(owner(lock))
    _hold_lock(lock, 1, host="some-other-node", age_s=10_000)
    assert is_stale(owner(lock))


def test_a_claimed_run_is_left_to_its_owner_and_orphans_are_removed(tmp_path, tiny, capsys):
    r = runs.resolve(load_run_config(None, ["method=grad_ascent", "task=tofu_forget01",
                                            f"results_dir={tmp_path}", *tiny]))
    lock = tmp_path / ".claims" / f"{r.run_id}.lock"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _hold_lock(lock, sleeper.pid)
        assert runs.execute(r, progress=False) == "claimed"
        assert not r.folder.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    # a dead owner's half-written scratch folder, left behind by a crash
    orphan = r.folder.with_name(f".{r.run_id}.{socket.gethostname()}.{sleeper.pid}.tmp")
    orphan.mkdir(parents=True)
    (orphan / "metrics.json").write_text("{")
    assert runs.execute(r, progress=False) == "complete"
    assert not orphan.exists() and not lock.exists()
    assert not list(r.folder.parent.glob(".*.tmp"))
    assert scratch_name(r.folder).name.endswith(f"{os.getpid()}.tmp")


def _spawn(args, env):
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_compute_a_run_once(tmp_path, tiny, harness_cache):
    """Two processes start the same run at the same time (two array tasks): exactly one computes it,
    the other leaves it to the first or finds it done; nothing is left half-written. With --force
    both may run, but never at once: no error, one intact folder."""
    assert main(["prepare", "task=tofu_forget01", "--quiet", *tiny]) == 0  # models cached first
    env = {**os.environ, "HARNESS_CACHE": str(harness_cache)}
    args = ["run", "method=grad_ascent", "task=tofu_forget01", f"results_dir={tmp_path}", "--quiet", *tiny,
            "unlearn.epochs=20"]
    procs = [_spawn(args, env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    said = [err for _, err in outs]
    assert sum("  complete:" in e for e in said) == 1, said
    assert sum(("claimed by" in e) or ("  skipped:" in e) for e in said) == 1, said
    procs = [_spawn(args + ["--force"], env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    (folder,) = [p for p in (tmp_path / "runs").iterdir()]
    assert json.loads((folder / "status.json").read_text())["status"] == "complete"
    assert not list((tmp_path / "runs").glob(".*")) and not list((tmp_path / ".claims").glob("*"))


def test_shared_cache_entries_are_built_once(tmp_path):
    """A world (or model, or reference file) that another live process is building is waited for and
    then reused, not built a second time."""
    import threading

    from harness.families.tofu import world as world
    out = tmp_path / "worlds" / world.world_id("tiny", 0)
    lock = out.with_name(f".{out.name}.lock")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    _hold_lock(lock, sleeper.pid)
    done = []
    t = threading.Thread(target=lambda: done.append(world.build(tmp_path, "tiny", 0)))
    t.start()
    time.sleep(1.5)
    assert t.is_alive() and not out.exists()  # waiting for the owner
    world.build.__globals__["_write"](out, "tiny", 0)  # the owner finishes its build ...
    sleeper.kill()
    sleeper.wait()                                     # ... and exits
    t.join(timeout=30)
    assert done == [out] and (out / "MANIFEST.json").exists()


def test_a_worker_trains_the_retain_model_while_another_trains_the_target(monkeypatch, tiny):
    """Preparing ahead (without_waiting), a worker that finds the target claimed by another process
    trains the retain model meanwhile, then reports the target busy; it never waits idle."""
    from harness import models as MD
    from harness import runs
    from harness.claim import Busy, without_waiting
    from harness.config import load_run_config
    r = runs.resolve(load_run_config(None, tiny + ["task=tofu_forget05", "method=none", "model.finetune.epochs=3"]))
    real = MD.build_once

    def target_elsewhere(path, done, build):
        if path.name.startswith("target-"):
            raise Busy(f"{path} is being built by another process")
        return real(path, done, build)
    monkeypatch.setattr(MD, "build_once", target_elsewhere)
    with without_waiting(), pytest.raises(Busy, match="target-"):
        MD.prepare_models(r.cfg, r.task, progress=False)
    retained = [p for p in (MD.cache_root() / "models").glob("retain-*") if (p / MD.META).exists()]
    assert any(json.loads((p / MD.META).read_text())["split"] == "retain95" for p in retained)
