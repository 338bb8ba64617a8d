#!/usr/bin/env bash
# The GPU side of issue 12 in one short script, for a CUDA machine whose python3 has torch and transformers
# (e.g. the lent H200). Wheels of liger-kernel, rouge_score and nltk may sit in .whl/ (no registry there).
# Logs and JSON under $OUT (default /tmp/gpu_speed). Each step has its own time limit.
#   0. the device and its bf16 matrix ceiling (8192^3 products);
#   1. the fused kernel's numbers against the full path (tests/test_chunked.py, CUDA test);
#   2. scripts/bench_train.py at Llama-3.2-1B's shape, TOFU-length sequences: full / chunked / fused / Trainer;
#   3. one tiny end-to-end run on the GPU (label log-probs auto = fused, fused AdamW);
#   4. the fused path with the decoder compiled (torch.compile);
#   5. the harness's own loop (GradDiff through harness/unlearn.py) at the 1B shape, unlearn.compile off and on;
#   6. a tiny run with unlearn.compile on and off (the same numbers and FLOP counts).
#   tests: the CUDA-relevant test files on the GPU (label paths, the FLOP meter, compile).
#   multi: with >= 2 GPUs, one tiny NPO run (a curve and a rule) on 1 GPU, on all GPUs data parallel and on
#          all GPUs sharded (unlearn.fsdp, NCCL), compared number by number; scripts/bench_fsdp.py on the GPUs.
# Stages (default: all but tests and multi, in this order): check bench e2e compiled loop e2e_compile tests multi
set -uo pipefail
STAGES=" ${*:-check bench e2e compiled loop e2e_compile} "
want() { [[ "$STAGES" == *" $1 "* ]]; }
OUT=${OUT:-/tmp/gpu_speed}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1 HARNESS_CACHE=${HARNESS_CACHE:-/tmp/hcache}
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="/tmp/site:$PWD"
fi
export PYTHONPATH="${PYTHONPATH:-$PWD}"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee "$OUT/device.txt"
python3 - <<'EOF' 2>&1 | tee -a "$OUT/device.txt"
import torch, transformers, importlib.util
print("torch", torch.__version__, "transformers", transformers.__version__,
      "liger", importlib.util.find_spec("liger_kernel") is not None)
a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
for _ in range(3):
    a @ b
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
s.record()
for _ in range(10):
    a @ b
e.record(); torch.cuda.synchronize()
print(f"bf16 8192^3 matmul: {2 * 8192**3 * 10 / (s.elapsed_time(e) / 1e3) / 1e12:.0f} TFLOP/s (random data, mean of 10)")
EOF
want check && echo "== 1. fused kernel vs full path on CUDA" && timeout 90 python3 -m pytest -q -s -p no:cacheprovider tests/test_chunked.py -k "fused or same_log_probs" 2>&1 \
  | tee "$OUT/pytest_fused.txt" | grep -v "^$" | tail -8
want bench && echo "== 2. bench_train, Llama-3.2-1B shape, bf16, 256-token sequences" && timeout 210 python3 scripts/bench_train.py shape=llama1b batch=16,64 seq=256 steps=6 \
  paths=full,chunked,fused,checkpointed,trainer out="$OUT/bench_1b.json" 2>&1 | grep -v Warning | tee "$OUT/bench_1b.txt"
T="world.profile=tiny model.arch.hidden_size=64 model.arch.num_layers=1 model.arch.num_heads=2
   model.arch.intermediate_size=128 model.arch.vocab_size=400 model.pretrain.epochs=40 model.finetune.epochs=40
   eval.max_new_tokens=12 eval.batch_size=32 unlearn.epochs=1"
report() {
python3 - "$1" <<'EOF'
import json, sys, pathlib
for f in sorted(pathlib.Path(sys.argv[1], "runs").glob("*/compute.json")):
    c = json.loads(f.read_text())
    m = json.loads((f.parent / "metrics.json").read_text())
    print("run:", f.parent.name, {k: c.get(k) for k in ("device", "dtype", "label_logprobs", "steps", "unlearn_s",
          "flops_forward", "flops_backward", "gpu_peak_mem_mb")}, {k: m.get(k) for k in ("forget_prob", "model_utility")})
EOF
}
if want e2e; then
  echo "== 3. one tiny run on the GPU"
  timeout 100 python3 -m harness run method=npo task=tofu_forget01 $T results_dir="$OUT/results" --quiet 2>&1 | tail -5
  report "$OUT/results"
fi
want compiled && echo "== 4. fused + torch.compile" && timeout 120 python3 scripts/bench_train.py shape=llama1b batch=64 seq=256 steps=6 paths=compiled \
  out="$OUT/bench_1b_compiled.json" 2>&1 | grep -v Warning | tail -4 | tee "$OUT/bench_1b_compiled.txt"
if want loop; then
  echo "== 5. the harness's own loop (harness/unlearn.py, GradDiff) at the 1B shape, unlearn.compile off and on"
  timeout 300 python3 scripts/bench_train.py shape=llama1b batch=16,64 seq=256 steps=10 paths=unlearn,unlearn_compiled \
    out="$OUT/bench_1b_loop.json" 2>&1 | grep -v Warning | tail -7 | tee "$OUT/bench_1b_loop.txt"
fi
if want e2e_compile; then
  echo "== 6. a tiny run with unlearn.compile=true against false on the GPU (numbers and FLOP counts)"
  for c in false true; do
    timeout 120 python3 -m harness run method=graddiff task=tofu_forget01 $T unlearn.compile=$c \
      results_dir="$OUT/compile_$c" --quiet 2>&1 | tail -1
    report "$OUT/compile_$c"
  done
fi
if want tests; then
  echo "== 7. tests/test_chunked.py and tests/test_cost.py with CUDA visible"
  timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_chunked.py tests/test_cost.py 2>&1 | tail -4
fi
if want multi; then
  N=$(nvidia-smi -L | wc -l)
  echo "== 8. one run on 1 GPU, on $N data parallel and on $N sharded (NCCL)"
  if [ "$N" -lt 2 ]; then echo "   one GPU: skipped"; else
    M="method=npo task=tofu_forget01 $T unlearn.epochs=2 unlearn.batch_size=2 unlearn.curve_every=1 unlearn.select=max:forget_truth_ratio"
    timeout 150 python3 -m harness run $M results_dir="$OUT/multi_1" --quiet 2>&1 | tail -1
    timeout 150 torchrun --standalone --nproc_per_node "$N" -m harness run $M results_dir="$OUT/multi_dp" --quiet 2>&1 | tail -1
    timeout 150 torchrun --standalone --nproc_per_node "$N" -m harness run $M unlearn.fsdp=true \
      results_dir="$OUT/multi_fsdp" --quiet 2>&1 | tail -1
    python3 - "$OUT" <<'EOF'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
def load(d):
    (f,) = (out / d / "runs").iterdir()
    return json.loads((f / "metrics.json").read_text()), json.loads((f / "compute.json").read_text())
m1, c1 = load("multi_1")
for d in ("multi_dp", "multi_fsdp"):
    m, c = load(d)
    worst = max((abs(m[k] - v) / max(abs(v), 1e-12), k) for k, v in m1.items() if isinstance(v, float))
    print(d, "processes", c.get("processes"), "fsdp", c.get("fsdp"), "worst relative metric difference", worst,
          "steps/selected", (c["steps"], c.get("selected_step")), "vs", (c1["steps"], c1.get("selected_step")),
          "flops equal", (c["flops_forward"], c["flops_backward"]) == (c1["flops_forward"], c1["flops_backward"]))
EOF
    timeout 200 python3 scripts/bench_fsdp.py procs="$N" layers=16 hidden=2048 inter=8192 vocab=128256 batch=8 \
      seq=256 steps=4 out="$OUT/bench_fsdp_gpu.json" 2>&1 | tail -2
  fi
fi
