#!/usr/bin/env bash
# Training speed on one GPU host in about 7 minutes: MobileNetV2 (the network
# of configs/mobilenet-v2_fruit.py) at 224 px on the same in-memory batches:
#   1. the plain PyTorch loop vs mmengine's Runner, fp32, alternating in one
#      process; the Runner with AMP (float16), and with AMP + channels_last;
#   2. AMP + channels_last with and without torch.compile (COMPILE=1);
#   3. the data pipeline alone (the config's mmpretrain pipeline vs the
#      course's torchvision one) with 16 loader workers on real JPEG files.
#
# Usage: bash tools/benchmark/gpu_suite.sh [OUT_DIR]   # default work_dirs/gpu_suite
#
# Environment (defaults): BATCH (128), IMG (224), ITERS (20), WARMUP (5),
# REPEATS (3), WORKERS (16), COMPILE (1), DOCS (1: write the tables into
# docs/benchmarks.md), THREADS (torch's default), PYTHON (python, else
# python3), LIMIT1/LIMIT2/LIMIT3 (seconds per step: 240/150/90),
# CASE_LIMIT (seconds per measurement process: 120). WARMUP must stay >= 2
# for torch.compile (its 2nd iteration compiles again).
# Without a GPU the same script runs on CPU (use small BATCH, IMG, ITERS).
#
# A step past its limit is stopped with all its processes (loader workers
# too) and the next one runs; each step's output is in OUT_DIR/step*.log and
# its measurements so far in OUT_DIR/*.json. torch.compile runs last: it is
# the step most likely to run long.
set -euo pipefail

case "${1:-}" in -h|--help)  # print the comment block above
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
esac

OUT=${1:-work_dirs/gpu_suite}
BATCH=${BATCH:-128}
IMG=${IMG:-224}
ITERS=${ITERS:-20}
WARMUP=${WARMUP:-5}
REPEATS=${REPEATS:-3}
WORKERS=${WORKERS:-16}
COMPILE=${COMPILE:-1}
DOCS=${DOCS:-1}
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"

COMMON=(--img-size "$IMG" --batch-size "$BATCH" --iters "$ITERS"
        --warmup "$WARMUP" --workers "$WORKERS" --max-photos-per-class 20
        --case-timeout "${CASE_LIMIT:-120}")
if [ -n "${THREADS:-}" ]; then COMMON+=(--threads "$THREADS"); fi
DOC_ARGS=()
if [ "$DOCS" = 1 ]; then DOC_ARGS=(--write-docs); fi

# step NAME LIMIT ARGS...: train_throughput.py with its output in
# $OUT/NAME.log (not a pipe that a stray loader worker could hold open),
# stopped at LIMIT seconds (it stops its measurement process on SIGTERM)
step() {
    local name=$1 limit=$2 rc=0
    shift 2
    timeout --kill-after=20 "$limit" "$PYTHON" "$HERE/train_throughput.py" \
        "${COMMON[@]}" "$@" >"$OUT/$name.log" 2>&1 || rc=$?
    cat "$OUT/$name.log"
    if [ "$rc" != 0 ]; then echo "!! $name: exit $rc (limit $limit s)"; fi
}

echo "== 1. training, ${IMG} px, batch ${BATCH}"
step step1_training "${LIMIT1:-240}" --repeats "$REPEATS" \
    --cases alternating/memory runner/memory+amp \
    runner/memory+amp+channels_last \
    --json "$OUT/training.json" --title "GPU: training" "${DOC_ARGS[@]}"

echo "== 3. data pipeline alone, ${WORKERS} workers"
step step3_pipeline "${LIMIT3:-90}" --repeats 2 \
    --cases plain/files-data-only runner/files-data-only \
    --json "$OUT/pipeline.json" --title "GPU host: data pipeline" \
    "${DOC_ARGS[@]}"

if [ "$COMPILE" = 1 ]; then
    echo "== 2. torch.compile (compiling takes a minute or more per run)"
    step step2_compile "${LIMIT2:-150}" --repeats 1 \
        --cases runner/memory+amp+channels_last \
        runner/memory+amp+channels_last+compile \
        --json "$OUT/compile.json" --title "GPU: torch.compile" \
        "${DOC_ARGS[@]}"
fi
