#!/usr/bin/env bash
# Quick start on a fresh machine, no downloads beyond the package registries:
# set up .venv, generate the built-in demo fruit30 set, train MobileNetV2 on
# it with `mim train` (one line per epoch on the console, the full log in
# WORK_DIR/train.log), test best.pth with `mim test`, and predict one image
# into a picture. Re-running resumes; nothing written is lost.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: bash tools/quickstart.sh [--epochs N] [--work-dir DIR] [--data DIR] [--skip-setup]

Set up .venv (tools/setup_env.sh), generate the demo fruit30 set, train
configs/mobilenet-v2_fruit_demo.py with `mim train` (resuming an earlier run),
test WORK_DIR/best.pth with `mim test`, predict one image.

While it trains it prints one line per epoch (loss, val top-1, ETA); the full
output is appended to WORK_DIR/train.log (and WORK_DIR/test.log), never
overwritten.

Options:
  --epochs N      train for N epochs in all (default: the config's 40)
  --work-dir DIR  work dir (default: work_dirs/mobilenet-v2_fruit_demo)
  --data DIR      demo data set folder (default: data/fruit30_demo)
  --skip-setup    use .venv as it is (do not run tools/setup_env.sh)
  -h, --help      show this help and exit
USAGE
}

EPOCHS=""
SETUP=1
WORK=work_dirs/mobilenet-v2_fruit_demo
DATA=data/fruit30_demo
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --skip-setup) SETUP=0; shift ;;
    --epochs) EPOCHS="${2:?--epochs needs a number}"; shift 2 ;;
    --work-dir) WORK="$(realpath -m "${2:?--work-dir needs a folder}")"; shift 2 ;;
    --data) DATA="$(realpath -m "${2:?--data needs a folder}")"; shift 2 ;;
    *) echo "quickstart.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case "$EPOCHS" in
  ""|[1-9]|[1-9][0-9]|[1-9][0-9][0-9]) ;;
  *) echo "quickstart.sh: --epochs takes a positive number, got '$EPOCHS'" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
START=$(date +%s)

[ "$SETUP" = 0 ] || bash tools/setup_env.sh
export PATH="$PWD/.venv/bin:$PATH"

CONFIG=configs/mobilenet-v2_fruit_demo.py
OPTIONS=(data_root="$DATA" train_dataloader.dataset.data_root="$DATA"
         val_dataloader.dataset.data_root="$DATA" test_dataloader.dataset.data_root="$DATA")
[ -z "$EPOCHS" ] || OPTIONS+=(train_cfg.max_epochs="$EPOCHS")
mkdir -p "$WORK"
LOG="$WORK/train.log"

echo "[quickstart] 1/4 demo data -> $DATA"
python tools/dataset/make_demo_fruit30.py --out "$DATA"

echo "[quickstart] 2/4 mim train mmpretrain $CONFIG (full log: $LOG)"
echo "===== quickstart $(date '+%Y-%m-%d %H:%M:%S'): mim train $CONFIG ${OPTIONS[*]}" >> "$LOG"
mim train mmpretrain "$CONFIG" --work-dir "$WORK" --resume --cfg-options "${OPTIONS[@]}" 2>&1 \
  | tee -a -p "$LOG" \
  | python tools/analysis/watch_train.py --config "$CONFIG" ${EPOCHS:+--max-epochs "$EPOCHS"} \
  || { echo "[quickstart] training failed; the end of $LOG:"; tail -n 40 "$LOG"; exit 1; }

BEST="$WORK/best.pth"
if [ ! -e "$BEST" ]; then
  echo "[quickstart] $BEST is missing: $CONFIG needs dict(type='CheckpointLinksHook') in custom_hooks" >&2
  exit 1
fi
TEST_LOG="$WORK/test.log"
echo "[quickstart] 3/4 mim test with $BEST -> $(readlink "$BEST" || echo copy) (log: $TEST_LOG)"
echo "===== quickstart $(date '+%Y-%m-%d %H:%M:%S'): mim test $CONFIG $BEST" >> "$TEST_LOG"
mim test mmpretrain "$CONFIG" --checkpoint "$BEST" --work-dir "$WORK/test" \
  --cfg-options "${OPTIONS[@]}" > "$WORK/test.last.log" 2>&1 \
  || { cat "$WORK/test.last.log" >> "$TEST_LOG"; tail -n 40 "$WORK/test.last.log"; exit 1; }
cat "$WORK/test.last.log" >> "$TEST_LOG"
TOP1=$(grep -oE "accuracy/top1: [0-9.]+" "$WORK/test.last.log" | tail -n 1 | cut -d' ' -f2)
TOP5=$(grep -oE "accuracy/top5: [0-9.]+" "$WORK/test.last.log" | tail -n 1 | cut -d' ' -f2)
rm -f "$WORK/test.last.log"

IMG=$(ls "$DATA"/val/苹果-红/* | head -n 1)
echo "[quickstart] 4/4 predict $IMG"
python tools/image_demo.py "$IMG" "$CONFIG" "$BEST" --out-file "$WORK/prediction.png" \
  2>/dev/null | grep -v "^Loads checkpoint"

cat <<SUMMARY

[quickstart] done in $(( $(date +%s) - START )) s
  demo val top-1 accuracy: ${TOP1} %   (top-5: ${TOP5} %, chance: 3.3 %)
  best checkpoint:         $BEST
  training log:            $LOG
  test log:                $TEST_LOG
  prediction picture:      $WORK/prediction.png
  run the tests:           .venv/bin/python -m pytest
SUMMARY
