#!/usr/bin/env bash
# Distributed testing with torchrun.
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py args...]
#   (test.py args: python tools/test.py --help)
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500).
set -euo pipefail

TOOLS=$(cd "$(dirname "$0")" && pwd)
source "$TOOLS/launcher_common.bash"
need_args 3 "$@"

torchrun "$3" "$TOOLS/test.py" "$1" "$2" --launcher pytorch "${@:4}"
