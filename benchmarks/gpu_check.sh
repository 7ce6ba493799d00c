#!/usr/bin/env bash
# The prepared accelerator check of issue 18 (item 7), sized for <= 8 minutes on one GPU machine:
#   1. the tests that change with an accelerator present (generate's --device handling, NVIDIA fixtures);
#   2. benchmarks/gpu_check.py: fixture fidelity on the device, device vs CPU renders, generator img/s at
#      256 and 1024 px for batch 1/8/32, projection steps/s at 256 px.
# Run from the repository root; needs only torch, numpy, pillow, safetensors, tqdm, imageio (no install:
# PYTHONPATH=src). Writes gpu_check.md / gpu_check.json / tests.log under OUT (default: gpu-check-out).
# Record what it prints in docs/benchmarks.md ("GPU check").
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check-out}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1
status=0
{ $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; nvidia-smi -L 2>/dev/null; } | tee "$OUT/env.txt"
timeout 150 $PY -m pytest -q -p no:cacheprovider tests/cli/test_generate.py tests/nn/test_generator.py \
    tests/nn/test_stylegan3.py 2>&1 | tail -15 | tee "$OUT/tests.log" || status=1
timeout 300 $PY benchmarks/gpu_check.py --device "$DEVICE" --json "$OUT/gpu_check.json" 2>&1 | tee "$OUT/gpu_check.md" || status=1
echo "gpu_check.sh: exit $status"
exit $status
