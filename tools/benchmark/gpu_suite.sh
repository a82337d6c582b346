#!/usr/bin/env bash
# Training speed on one GPU, in under 8 minutes: MobileNetV2 (the network of
# configs/mobilenet-v2_fruit.py) at 224 px through mmengine's Runner with
#   fp32 | AMP (float16) | AMP + channels_last | AMP + channels_last + compile
# plus the plain PyTorch loop (fp32) for reference, on the same in-memory
# batches; then the data pipeline alone (config's mmpretrain pipeline vs the
# course's torchvision one) with 16 loader workers on real JPEG files.
#
#   bash tools/benchmark/gpu_suite.sh [OUT_DIR]        # default work_dirs/gpu_suite
#
# Environment (defaults): BATCH (128), IMG (224), ITERS (30), WARMUP (10),
# REPEATS (3), WORKERS (16), COMPILE (1: include the compile case), DOCS (1:
# write the tables into docs/benchmarks.md), THREADS (torch's default).
# Without a GPU the same script runs on CPU (use small BATCH/IMG/ITERS there).
set -euo pipefail

OUT=${1:-work_dirs/gpu_suite}
BATCH=${BATCH:-128}
IMG=${IMG:-224}
ITERS=${ITERS:-30}
WARMUP=${WARMUP:-10}
REPEATS=${REPEATS:-3}
WORKERS=${WORKERS:-16}
COMPILE=${COMPILE:-1}
DOCS=${DOCS:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"

COMMON=(--img-size "$IMG" --batch-size "$BATCH" --iters "$ITERS"
        --warmup "$WARMUP" --repeats "$REPEATS" --workers "$WORKERS")
[ -n "${THREADS:-}" ] && COMMON+=(--threads "$THREADS")
DOC_ARGS=()
[ "$DOCS" = 1 ] && DOC_ARGS=(--write-docs)

CASES=(plain/memory runner/memory runner/memory+amp
       runner/memory+amp+channels_last)
[ "$COMPILE" = 1 ] && CASES+=(runner/memory+amp+channels_last+compile)

echo "== training, ${IMG} px, batch ${BATCH}: ${CASES[*]}"
python "$HERE/train_throughput.py" "${COMMON[@]}" --cases "${CASES[@]}" \
    --json "$OUT/training.json" --title "GPU: training" "${DOC_ARGS[@]}"

echo "== data pipeline alone, ${WORKERS} workers"
python "$HERE/train_throughput.py" "${COMMON[@]}" \
    --cases plain/files-data-only runner/files-data-only \
    --json "$OUT/pipeline.json" --title "GPU host: data pipeline" \
    "${DOC_ARGS[@]}"
