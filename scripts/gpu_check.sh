#!/usr/bin/env bash
# GPU smoke check, for a machine with a CUDA GPU and the stack installed (python3 with torch,
# transformers, ...). Writes logs and results under $OUT (default /tmp/gpu_check).
#   1. the test suite with CUDA visible: model.device=auto puts every model on the GPU;
#   2. the default benchmark (make leaderboard's grid) on the GPU, timed;
#   3. a 1B-parameter Llama shape in bf16 through one GradDiff run (placement, dtype, throughput).
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1 HARNESS_CACHE=${HARNESS_CACHE:-/tmp/hcache}
nvidia-smi --query-gpu=name,memory.total --format=csv
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"
echo "== 1. tests with CUDA visible"
python3 -m pytest -q -x tests -p no:cacheprovider 2>&1 | tail -5
echo "== 2. default benchmark on the GPU"
start=$(date +%s)
python3 -m harness grid configs/grid_default.yaml results_dir="$OUT/results" --quiet 2>&1 | grep -v "^\[harness\] run\|complete:"
echo "grid wall seconds: $(( $(date +%s) - start ))"
python3 -m harness leaderboard --results "$OUT/results"
cp "$OUT/results/leaderboard.csv" "$OUT/leaderboard_gpu.csv"
echo "== 3. 1B Llama shape in bf16"
PYTHONPATH=".:${PYTHONPATH:-}" python3 scripts/gpu_bf16_check.py "$OUT"
