"""unlearn.fsdp: a run on 2 processes (torchrun, CPU, gloo) with its model sharded (FSDP2) unlearns
as 1 process does, each process holding half of every parameter, and writes the same run folder.

Tolerance: float rounding only (the same global batches and share-weighted losses as data
parallelism, tests/test_distributed.py): 1e-5 absolute on every weight and logged loss term, 1e-4
relative on every metric. Measured on the tiny world: at most 4.0e-7 relative on any metric."""
import json
from pathlib import Path

import pytest

from harness.cli import main
from helpers import REL, _torchrun, torchrun_record

CASES = {  # name: (method, adapter, label path, compiled); tied embeddings, 2 layers, batches of 3 split 2 + 1
    "graddiff": ("graddiff", False, "full", False), "npo": ("npo", False, "full", False),
    "graddiff_lora": ("graddiff", True, "full", False), "npo_chunked": ("npo", False, "chunked", False),
    "graddiff_compiled": ("graddiff", False, "full", True)}


def record_sharded(out: str, fsdp: bool) -> None:
    """The real loop on a tiny random Llama per case: its weights after unlearning (gathered to rank 0
    when sharded), its train log, and how much of the trained parameters each process held."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from harness import distributed as dist
    from harness import sharded
    from harness import unlearn as U
    from harness.adapters import apply
    from harness.config import AdapterConfig, UnlearnConfig
    from harness.prompts import Encoded
    from harness.registry import get_method
    from harness.tensors import label_path
    dist.setup(torch.device("cpu"))
    real_compile = torch.compile

    def eager_compile(fn, **kw):  # torch.compile's fast 'eager' backend, counted; restored below
        held["compiled"] = held.get("compiled", 0) + 1
        return real_compile(fn, backend="eager", **kw)
    torch.compile = eager_compile
    g = torch.Generator().manual_seed(1)

    def item(i):
        return Encoded([i] + torch.randint(40, 64, (3,), generator=g).tolist(),
                       torch.randint(40, 64, (1 + i % 4,), generator=g).tolist())
    forget, retain = [item(i) for i in range(9)], [item(20 + i) for i in range(12)]
    held, real = {}, sharded.shard

    def spy(model, ref):  # each process's share of the trained parameters, once sharded
        params = real(model, ref)
        held["local"] = sum(p.to_local().numel() for p in params)
        held["ref_local"] = sum(p.to_local().numel() for p in ref.parameters()) if ref is not None else 0
        return params
    sharded.shard = spy
    from harness import tensors
    real_chunk = tensors._chunk_nll

    def chunk_spy(head, h, y):  # the chunked path's head runs (inside the sharded model's forward)
        held["chunks"] = held.get("chunks", 0) + 1
        return real_chunk(head, h, y)
    tensors._chunk_nll = chunk_spy
    res = {}
    try:
        for name, (method, lora, path, comp) in CASES.items():
            torch.manual_seed(0)
            model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                                                 num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                                 max_position_embeddings=64, tie_word_embeddings=True))
            model = apply(model, AdapterConfig(kind="lora" if lora else "none", rank=4), 0)
            total = sum(p.numel() for p in model.parameters() if p.requires_grad)
            held.clear()
            m = get_method(method)
            cfg = UnlearnConfig(lr=1e-2, epochs=2, batch_size=3, retain_batch_size=4, max_grad_norm=1.0, fsdp=fsdp,
                                compile=comp and fsdp)  # torch.compile's 'eager' backend (Inductor: by hand)
            # sharded, the chunked path (3 answer positions a chunk) against the full one in one process
            with label_path(path if fsdp else "full", 3, "cpu"):
                st = U.unlearn(model, m, m.parse_args({}), forget, retain, cfg, 0, 0, progress=False)
            if sharded.active(cfg) and name == "graddiff":  # what the curve does after measuring
                with torch.no_grad():
                    model(input_ids=torch.tensor([[1, 2, 3]]))  # FSDP leaves the root gathered after it
                before = type(model.lm_head.weight).__name__
                values = sharded.after_probe(model, {"x": float(dist.rank())})
                held["probe"] = [before, type(model.lm_head.weight).__name__, values["x"]]
            state = sharded.gather(model) if sharded.active(cfg) else model.state_dict()
            if state is not None:
                state = {k: v.flatten().tolist() for k, v in state.items()}
            res[name] = {"state": state, "log": st.log, "total": total, **held}
    finally:
        sharded.shard, tensors._chunk_nll, torch.compile = real, real_chunk, real_compile
    Path(f"{out}.{dist.rank()}.json").write_text(json.dumps(res))


def test_each_process_holds_half_and_the_weights_are_one_process_weights(tmp_path):
    record_sharded(str(tmp_path / "one"), fsdp=False)
    r0, r1 = torchrun_record(tmp_path, str(Path(__file__)), "record_sharded(out, True)")
    one = json.loads((tmp_path / "one.0.json").read_text())
    for name in CASES:
        single, a, b = one[name], r0[name], r1[name]
        # sharded: each process holds about half of every trained parameter (dim 0 split, rounded up)
        assert a["local"] + b["local"] == a["total"] and abs(a["local"] - b["local"]) <= a["total"] // 8, name
        assert a["local"] < a["total"] * 0.6
        if name.startswith("npo"):  # the frozen reference copy is sharded too
            assert 0 < a["ref_local"] < a["total"] * 0.6
        assert (a.get("chunks", 0) > 0) == (name == "npo_chunked")  # the path asked for was taken
        assert a.get("compiled", 0) == (2 if name == "graddiff_compiled" else 0)  # both layers, sharded
        if name == "graddiff":  # after a curve's passes: the root back in shards, rank 0's numbers everywhere
            assert a["probe"] == b["probe"] == ["Parameter", "DTensor", 0.0]
        assert b["state"] is None  # the full weights are gathered on rank 0 alone
        assert single["state"].keys() == a["state"].keys()
        for k, v in single["state"].items():
            assert max(abs(x - y) for x, y in zip(v, a["state"][k])) < 1e-5, (name, k)
        assert len(single["log"]) == len(a["log"]) == 6  # 2 epochs of 9 items in batches of 3
        for s, d in zip(single["log"], a["log"]):
            assert s.keys() == d.keys() and all(abs(s[k] - d[k]) < 1e-5 for k in s), (name, s, d)
        assert a["log"] == b["log"]  # every process logs the global batch's loss


def test_sharded_runs_write_the_one_process_folders(tmp_path, tiny):
    """One launch, two runs, each with an unlearning curve and a rule that picks a step: NPO (its
    reference model sharded; the rule picks a step before the last, whose shards every process restores)
    and LoRA GradDiff over sequential requests (the model is gathered, evaluated and sharded anew after
    each request)."""
    cases = [["method=npo", "task=tofu_forget01", "unlearn.curve_every=1", "unlearn.select=max:forget_truth_ratio",
              "unlearn.select_on=evaluated"],
             ["method=graddiff", "adapter.kind=lora", "task=muse_news_synthetic_sust", "unlearn.curve_every=2",
              "unlearn.select=max:knowmem_retain_prob", "unlearn.select_on=evaluated"]]
    common = [*tiny, "unlearn.epochs=2", "unlearn.batch_size=2", "unlearn.retain_batch_size=4", "--quiet"]
    for case in cases:
        assert main(["run", *case, *common, f"results_dir={tmp_path / 'one'}"]) == 0
    script = tmp_path / "runs.py"
    script.write_text("import json, sys\nfrom harness.cli import main\n"
                      f"for case in {cases!r}:\n"
                      "    rc = main(['run', *case, *sys.argv[1:]])\n    assert rc == 0, rc\n")
    two = _torchrun([str(script), *common, "unlearn.fsdp=true", f"results_dir={tmp_path / 'two'}"])
    assert two.returncode == 0, two.stderr[-3000:]
    ones, twos = (sorted((tmp_path / d / "runs").iterdir()) for d in ("one", "two"))
    assert [f.name for f in ones] == [f.name for f in twos]  # sharding is not part of the run: same ids
    for a, b in zip(ones, twos):
        ma, mb = (json.loads((f / "metrics.json").read_text()) for f in (a, b))
        for k, v in ma.items():
            if isinstance(v, (int, float)):
                assert mb[k] == pytest.approx(v, rel=REL, abs=1e-9), (a.name, k)
        ca, cb = (json.loads((f / "compute.json").read_text()) for f in (a, b))
        assert (cb["processes"], cb["fsdp"], "fsdp" in ca) == (2, True, False)
        for k in ("steps", "tokens_forward", "tokens_backward", "flops_forward", "flops_backward", "selected_step",
                  "curve_points"):
            assert ca[k] == cb[k], (a.name, k)
        if a.name.startswith("tofu"):  # the rule chose a step before the last: restored from the shards
            assert ca["selected_step"] < ca["steps"]
        pa, pb = ([json.loads(x) for x in (f / "curve.jsonl").read_text().splitlines()] for f in (a, b))
        assert [p["step"] for p in pa] == [p["step"] for p in pb]
        for x, y in zip(pa, pb):
            assert all(y[k] == pytest.approx(v, rel=REL, abs=1e-9) for k, v in x.items() if isinstance(v, float))
        assert (b / "model" / "config.json").exists()  # the gathered model was saved
        if (a / "requests.jsonl").exists():  # every request but the last evaluated the gathered model
            ra, rb = ([json.loads(x) for x in (f / "requests.jsonl").read_text().splitlines()] for f in (a, b))
            assert len(ra) == len(rb) == 4 and all("metrics" in e for e in rb[:-1])
            for x, y in zip(ra[:-1], rb[:-1]):
                for k, v in x["metrics"].items():
                    if isinstance(v, (int, float)):
                        assert y["metrics"][k] == pytest.approx(v, rel=REL, abs=1e-9), (k, x, y)


def test_accelerate_fsdp_turns_sharding_on_and_deepspeed_is_refused(monkeypatch, capsys, tmp_path):
    from harness.config import RunConfig
    from harness.runs import resolve
    plain = resolve(RunConfig(method="graddiff"))
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    r = resolve(RunConfig(method="graddiff"))
    assert r.cfg.unlearn.fsdp and not plain.cfg.unlearn.fsdp and r.run_id == plain.run_id
    monkeypatch.delenv("ACCELERATE_USE_FSDP")
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("WORLD_SIZE", "2")  # as under a launcher: the refusal comes before the process group
    assert main(["run", "method=graddiff", f"results_dir={tmp_path}"]) == 2
    assert "accelerate launch with DeepSpeed: not supported" in capsys.readouterr().err


def test_a_sweep_across_processes(tiny, tmp_path):
    """`torchrun -m harness sweep FILE`: the trials, then (once every trial's folder is written: a
    barrier) the same selection on every process, then the final run, all sharded across 2 processes;
    rank 0 alone builds the leaderboard."""
    import yaml
    res = tmp_path / "results"
    spec = {"name": "s", "task": "tofu_forget01", "validation": {"overrides": ["world.seed=1"]},
            "methods": {"graddiff": {"unlearn.lr": [1.0e-4, 5.0e-3]}}, "budget": 2,
            "overrides": tiny + [f"results_dir={res}", "unlearn.fsdp=true"], "select": {"maximize": "forget_quality"}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    done = _torchrun(["-m", "harness", "sweep", str(path), "--quiet"])
    assert done.returncode == 0, done.stderr[-3000:]
    folders = [p for p in (res / "runs").iterdir() if (p / "status.json").exists()]
    roles = sorted(yaml.safe_load((p / "config.yaml").read_text())["sweep"]["role"] for p in folders)
    assert roles == ["final", "trial", "trial"]
    assert all(json.loads((p / "compute.json").read_text())["processes"] == 2 for p in folders)
    assert "graddiff" in (res / "leaderboard_selected.csv").read_text()


def test_what_a_launched_grid_does_not_do(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")  # as under torchrun: refused before anything runs
    for extra, expected in ((["--workers", "2"], "grid --workers under a launcher: not supported"),
                            (["--count"], "grid --count under a launcher: not supported")):
        assert main(["grid", "configs/grid_default.yaml", f"results_dir={tmp_path}", *extra]) == 2
        assert expected in capsys.readouterr().err
    assert main(["leaderboard", "--results", str(tmp_path)]) == 2
    assert "'leaderboard' does not run across processes" in capsys.readouterr().err
