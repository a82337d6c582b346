#!/usr/bin/env bash
# Distributed testing with torchrun.
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py args...]
#   (test.py args: python tools/test.py --help)
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500).
set -euo pipefail

usage() {  # the comment block above, without the leading '# '
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
if [ $# -lt 3 ]; then usage >&2; exit 2; fi

CONFIG=$1
CHECKPOINT=$2
NPROC=$3
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
    "$TOOLS/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
