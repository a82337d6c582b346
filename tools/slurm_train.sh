#!/usr/bin/env bash
# Training on a slurm cluster, one task per GPU (or per CPU process).
# Usage: bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# Environment: GPUS (8 tasks in all), GPUS_PER_NODE (8; 0 for CPU-only nodes,
# which then train with gloo), TASKS_PER_NODE (GPUS_PER_NODE, or GPUS when 0),
# CPUS_PER_TASK (5), SRUN_ARGS (extra srun options).
set -euo pipefail

TOOLS=$(cd "$(dirname "$0")" && pwd)
source "$TOOLS/launcher_common.bash"
need_args 4 "$@"

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}

if [ "$GPUS_PER_NODE" -gt 0 ]; then
    GRES="--gres=gpu:$GPUS_PER_NODE"
    TASKS_PER_NODE=${TASKS_PER_NODE:-$GPUS_PER_NODE}
else
    GRES=""
    TASKS_PER_NODE=${TASKS_PER_NODE:-$GPUS}
fi

# shellcheck disable=SC2086  # GRES and SRUN_ARGS hold several words or none
PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    $GRES \
    --ntasks="$GPUS" \
    --ntasks-per-node="$TASKS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    python -u "$TOOLS/train.py" "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher=slurm "${@:5}"
