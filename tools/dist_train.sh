#!/usr/bin/env bash
# Distributed training on one or more nodes with torchrun.
# Usage: bash tools/dist_train.sh CONFIG NPROC [train.py args...]
#   (train.py args: python tools/train.py --help)
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500).
# On hosts without CUDA the processes train on CPU with the gloo backend.
set -euo pipefail

usage() {  # the comment block above, without the leading '# '
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
if [ $# -lt 2 ]; then usage >&2; exit 2; fi

CONFIG=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
TOOLS=$(cd "$(dirname "$0")" && pwd)

PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
python -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$TOOLS/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
