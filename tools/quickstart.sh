#!/usr/bin/env bash
# Quick start on a fresh machine, no downloads beyond the package registries:
# set up .venv, generate the built-in demo fruit30 set, train MobileNetV2 on
# it with `mim train`, test the best checkpoint with `mim test`, and predict
# one image into a picture. Re-running resumes; nothing written is lost.
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)

bash tools/setup_env.sh
export PATH="$PWD/.venv/bin:$PATH"
export PYTHONWARNINGS="ignore::UserWarning"

CONFIG=configs/mobilenet-v2_fruit_demo.py
DATA=data/fruit30_demo
WORK=work_dirs/mobilenet-v2_fruit_demo
mkdir -p "$WORK"

echo "[quickstart] 1/4 demo data -> $DATA"
python tools/dataset/make_demo_fruit30.py --out "$DATA"

echo "[quickstart] 2/4 mim train mmpretrain $CONFIG (log: $WORK/train.log)"
mim train mmpretrain "$CONFIG" --work-dir "$WORK" --resume > "$WORK/train.log" 2>&1 \
  || { tail -n 40 "$WORK/train.log"; exit 1; }
grep -E "Epoch\(val\).*accuracy/top1" "$WORK/train.log" | tail -n 3 || true

BEST=$(ls -t "$WORK"/best_accuracy_top1_epoch_*.pth | head -n 1)
echo "[quickstart] 3/4 mim test with $BEST (log: $WORK/test.log)"
mim test mmpretrain "$CONFIG" --checkpoint "$BEST" --work-dir "$WORK/test" \
  > "$WORK/test.log" 2>&1 || { tail -n 40 "$WORK/test.log"; exit 1; }
TOP1=$(grep -oE "accuracy/top1: [0-9.]+" "$WORK/test.log" | tail -n 1 | cut -d' ' -f2)
TOP5=$(grep -oE "accuracy/top5: [0-9.]+" "$WORK/test.log" | tail -n 1 | cut -d' ' -f2)

IMG=$(ls "$DATA"/val/苹果-红/* | head -n 1)
echo "[quickstart] 4/4 predict $IMG"
python tools/image_demo.py "$IMG" "$CONFIG" "$BEST" --out-file "$WORK/prediction.png" \
  2>/dev/null | grep -v "^Loads checkpoint"

cat <<SUMMARY

[quickstart] done in $(( $(date +%s) - START )) s
  demo val top-1 accuracy: ${TOP1} %   (top-5: ${TOP5} %, chance: 3.3 %)
  best checkpoint:         $BEST
  training log:            $WORK/train.log
  test log:                $WORK/test.log
  prediction picture:      $WORK/prediction.png
  run the tests:           .venv/bin/python -m pytest
SUMMARY
