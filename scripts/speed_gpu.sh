#!/usr/bin/env bash
# The GPU measurements of issue 8 (training speed), prepared to run in one go on one GPU:
#   bash scripts/speed_gpu.sh speed    # MCAN-small and ViLT-B/32 training steps: fast path and baselines
#                                      # (at most 8.5 min by the per-run time limits; ~5 min expected on an H100)
#   bash scripts/speed_gpu.sh curves   # loss curves with and without the fast path, fixed seed (at most 5 min)
#   bash scripts/speed_gpu.sh checks   # GPU tests: no device syncs in Lightning steps, compiled bf16 speed run (~1 min)
# Results (tables as .txt, full reports as .json) go to $OUT if set, else results/speed/gpu/.
# PEAK_TFLOPS: the card's dense bf16 peak used for "% of peak" (default 989, an H100 SXM).
set -u
cd "$(dirname "$0")/.."
OUT_DIR=${OUT:-results/speed/gpu}
PY=${PYTHON:-python}
PEAK=${PEAK_TFLOPS:-989}
mkdir -p "$OUT_DIR"
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}

run() {  # run NAME SECONDS COMMAND...: one measurement, its own time limit, output kept even if it fails
  local name=$1 limit=$2
  shift 2
  echo "=== $name: $*"
  timeout "$limit" "$@" > "$OUT_DIR/$name.txt" 2>&1
  echo "exit $?" >> "$OUT_DIR/$name.txt"
  grep -v -i "warn\|tip:\|available:" "$OUT_DIR/$name.txt" | tail -n 12
}

$PY -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, torch.cuda.get_device_name())" \
  | tee "$OUT_DIR/versions.txt"

case "${1:-speed}" in
speed)
  MCAN=(-m vqa speed -c configs/speed/mcan_small.yaml --device cuda --peak-tflops "$PEAK")
  VILT=(-m vqa speed -c configs/speed/vilt_b32.yaml --device cuda --peak-tflops "$PEAK")
  # The fast path: bf16 autocast + torch.compile (compilation happens in the warm-up steps).
  run mcan_bf16_compile 150 $PY "${MCAN[@]}" --precision bf16 --compile --no-inference --batch-sizes 512 --steps 30 --warmup 5 --json "$OUT_DIR/mcan_bf16_compile.json"
  run vilt_bf16_compile 150 $PY "${VILT[@]}" --precision bf16 --compile --no-inference --batch-sizes 256 --steps 20 --warmup 5 --json "$OUT_DIR/vilt_bf16_compile.json"
  # bf16 without compile, over batch sizes (and inference).
  run mcan_bf16_eager 75 $PY "${MCAN[@]}" --precision bf16 --batch-sizes 256 512 1024 --steps 30 --warmup 5 --json "$OUT_DIR/mcan_bf16_eager.json"
  run vilt_bf16_eager 75 $PY "${VILT[@]}" --precision bf16 --batch-sizes 128 256 --steps 20 --warmup 5 --json "$OUT_DIR/vilt_bf16_eager.json"
  # The reference's default setting: fp32 at batch 64.
  run mcan_fp32_b64 50 $PY "${MCAN[@]}" --precision fp32 --batch-sizes 64 --steps 30 --warmup 5 --json "$OUT_DIR/mcan_fp32_b64.json"
  ;;
curves)
  run curves_mcan 280 $PY -m vqa speed curves -c configs/speed/mcan_small.yaml --device cuda --steps 150 --window 15 \
    --batch-size 256 --variants bf16 bf16+compile fp32,other-seed --json "$OUT_DIR/curves_mcan.json"
  ;;
checks)
  run gpu_tests 120 $PY -m pytest -q -m gpu tests/benchmarks/test_gpu_speed.py -p no:cacheprovider
  ;;
*)
  echo "usage: bash scripts/speed_gpu.sh [speed|curves|checks]" >&2
  exit 2
  ;;
esac
