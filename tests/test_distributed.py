"""One run across several processes (torchrun, CPU, gloo): every process draws its own part of the
same global batches, and 2 processes give the numbers of 1.

Tolerance: the 2-process run differs from the 1-process run only by float rounding (each process pads
its part of a batch to its own longest sequence, and sums are added in another order; the methods'
batch means are the global batch's, harness.distributed.batch_mean). Measured on the tiny world: at
most 1.1e-6 relative on any metric of this run, 1.1e-5 over every method with uneven parts
(docs/distributed.md). The test allows 1e-4 (relative) on every metric and 1e-5 (absolute) on every
logged loss term and every parameter, and requires equal steps, token and FLOP counts."""
import json
from pathlib import Path

import pytest

from harness import distributed as dist
from harness.cli import main
from helpers import REL, _torchrun, torchrun_record

REPO = Path(__file__).resolve().parent.parent

def record_loop(out: str) -> None:
    """The real loop on a tiny random Llama, in this process (or, under torchrun, in each): what each
    process fed the loss, its train log, counts and parameters, written to <out>.<rank>.json."""
    import hashlib

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from harness import unlearn as U
    from harness.config import UnlearnConfig
    from harness.prompts import Encoded
    from harness.registry import get_method
    dist.setup(torch.device("cpu"))
    g = torch.Generator().manual_seed(1)

    def item(i):  # the first prompt token names the item; answers of 1 to 4 tokens (uneven padding)
        return Encoded([i] + torch.randint(40, 64, (3,), generator=g).tolist(),
                       torch.randint(40, 64, (1 + i % 4,), generator=g).tolist())
    forget, retain = [item(i) for i in range(10)], [item(20 + i) for i in range(14)]
    seen, real = [], U.supply

    def spy(method, cfg, model, ref, batches, pad_id):
        seen[-1].append({k: [e.prompt[0] for e in v] for k, v in batches.items() if v})
        return real(method, cfg, model, ref, batches, pad_id)
    out_ = {}
    U.supply = spy
    # graddiff: batches of 4 and 6 that split evenly (tails of 2 -> 1 + 1); grad_ascent: batches of 3 -> 2 + 1,
    # and a tail of 1 taken whole; wga (a token mean) with retain batches of 5 -> 3 + 2: uneven parts too
    try:
        for name, size, rsize in (("graddiff", 4, 6), ("grad_ascent", 3, 6), ("wga", 3, 5)):
            torch.manual_seed(0)
            model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                                                 num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                                 max_position_embeddings=64))
            m = get_method(name)
            seen.append([])
            cfg = UnlearnConfig(lr=1e-2, epochs=2, batch_size=size, retain_batch_size=rsize, max_grad_norm=1.0)
            st = U.unlearn(model, m, m.parse_args({}), forget, retain, cfg, 0, 0, progress=False)
            flat = torch.cat([p.detach().flatten() for p in model.parameters()])
            out_[name] = {"batches": seen[-1], "log": st.log, "params": flat.tolist(), "tokens": st.tokens_forward,
                          "flops": st.flops_forward + st.flops_backward,
                          "digest": hashlib.sha256(flat.numpy().tobytes()).hexdigest()}
    finally:
        U.supply = real
    Path(f"{out}.{dist.rank()}.json").write_text(json.dumps(out_))


def test_shard_splits_each_batch_into_disjoint_parts(monkeypatch):
    assert dist.shard([5, 1, 7], [2, 3]) == ([5, 1, 7], [2, 3], 1.0)  # one process: the whole batch
    monkeypatch.setenv("WORLD_SIZE", "2")
    for forget, retain in (([4, 9, 0, 3], [8, 1, 6, 2, 5, 7]), ([4, 9, 0], [8, 1, 6, 2, 5]), ([4], [8, 1])):
        parts = []
        for r in (0, 1):
            monkeypatch.setenv("RANK", str(r))
            parts.append(dist.shard(forget, retain))
        (f0, r0, s0), (f1, r1, s1) = parts
        assert s0 + s1 == pytest.approx(1.0)
        if len(forget) >= 2:
            assert not set(f0) & set(f1) and sorted(f0 + f1) == sorted(forget) and s0 == len(f0) / len(forget)
        else:  # smaller than the number of processes: every process takes it whole, at half weight
            assert f0 == f1 == forget and s0 == s1 == 0.5
        assert not set(r0) & set(r1) and sorted(r0 + r1) == sorted(retain)


def test_each_process_draws_its_own_part_of_the_one_process_batches(tmp_path):
    record_loop(str(tmp_path / "one"))
    ranks = torchrun_record(tmp_path, str(Path(__file__)), "record_loop(out)")
    ref = json.loads((tmp_path / "one.0.json").read_text())
    for name, single in ref.items():
        r0, r1 = (r[name] for r in ranks)
        steps = {"graddiff": 6, "grad_ascent": 8, "wga": 8}[name]  # 2 epochs of 10 items in batches of 4 / of 3
        assert len(single["batches"]) == len(r0["batches"]) == len(r1["batches"]) == steps
        for whole, a, b in zip(single["batches"], r0["batches"], r1["batches"]):
            for key in whole:  # forget (and retain): disjoint parts of the same global batch
                if len(whole[key]) >= 2:
                    assert not set(a[key]) & set(b[key]) and sorted(a[key] + b[key]) == sorted(whole[key])
                else:
                    assert a[key] == b[key] == whole[key]
        assert r0["digest"] == r1["digest"]  # the processes stay in step, bit for bit
        if name == "graddiff":  # the counts are summed across processes: each item once, as in one process
            assert r0["tokens"] == single["tokens"] and r0["flops"] == single["flops"]
        else:  # the tail of 1 item went through both processes
            assert r0["tokens"] > single["tokens"]
        assert max(abs(x - y) for x, y in zip(single["params"], r0["params"])) < 1e-5
        for s, d in zip(single["log"], r0["log"]):
            assert s.keys() == d.keys() and all(abs(s[k] - d[k]) < 1e-5 for k in s), (s, d)


def test_one_and_two_processes_give_the_same_run(tmp_path, tiny):
    args = ["run", "method=graddiff", "task=tofu_forget01", *tiny, "unlearn.epochs=2", "unlearn.batch_size=2",
            "unlearn.retain_batch_size=4", "--quiet"]
    assert main(args + [f"results_dir={tmp_path / 'one'}"]) == 0
    # `python -m harness` is main(); here it runs twice in one launch: the second finds the run complete
    script = tmp_path / "twice.py"
    script.write_text("import sys\nfrom harness.cli import main\nrc = main(sys.argv[1:])\n"
                      "print('second:', main(sys.argv[1:]), file=sys.stderr)\nsys.exit(rc)\n")
    two = _torchrun([str(script), *args, f"results_dir={tmp_path / 'two'}"])
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stderr.count("second: 0") == 2 and "skipped" in two.stderr  # skipped by both processes
    (a,), (b,) = ((tmp_path / d / "runs").iterdir() for d in ("one", "two"))
    assert a.name == b.name  # the process count is not part of the run: same id, same folder
    ma, mb = (json.loads((f / "metrics.json").read_text()) for f in (a, b))
    for k, v in ma.items():
        if isinstance(v, (int, float)):
            assert mb[k] == pytest.approx(v, rel=REL, abs=1e-9), k
    ca, cb = (json.loads((f / "compute.json").read_text()) for f in (a, b))
    assert (ca["processes"], cb["processes"]) == (1, 2)
    for k in ("steps", "tokens_forward", "tokens_backward", "flops_forward", "flops_backward"):
        assert ca[k] == cb[k], k  # the counts are the whole run's: each item once, whatever the split
    la, lb = ([json.loads(x) for x in (f / "train_log.jsonl").read_text().splitlines()] for f in (a, b))
    assert len(la) == len(lb) == 4 and all(abs(x[k] - y[k]) < 1e-5 for x, y in zip(la, lb) for k in x)
