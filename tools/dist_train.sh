#!/usr/bin/env bash
# Distributed training on one or more nodes with torchrun.
# Usage: bash tools/dist_train.sh CONFIG NPROC [train.py args...]
#   (train.py args: python tools/train.py --help)
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500).
# Several nodes: run it on each with the same NNODES, MASTER_ADDR (node 0) and
# PORT and its own NODE_RANK (docs/training.md, "Several machines").
# On hosts without CUDA the processes train on CPU with the gloo backend.
set -euo pipefail

TOOLS=$(cd "$(dirname "$0")" && pwd)
source "$TOOLS/launcher_common.bash"
need_args 2 "$@"

torchrun "$2" "$TOOLS/train.py" "$1" --launcher pytorch "${@:3}"
