# Sourced by dist_train.sh, dist_test.sh and slurm_train.sh.
# usage: print the calling script's header comment (its lines up to `set -euo`).
# need_args MIN "$@": --help prints the usage; fewer than MIN arguments print
#   it to stderr and exit 2.
# torchrun NPROC SCRIPT [ARGS...]: SCRIPT in NPROC processes on this node;
#   NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500).
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

need_args() {
  local min=$1
  shift
  case "${1:-}" in -h|--help) usage; exit 0 ;; esac
  if [ $# -lt "$min" ]; then usage >&2; exit 2; fi
}

torchrun() {
  local nproc=$1
  shift
  PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
  python -m torch.distributed.run \
      --nnodes="${NNODES:-1}" \
      --node_rank="${NODE_RANK:-0}" \
      --master_addr="${MASTER_ADDR:-127.0.0.1}" \
      --nproc_per_node="$nproc" \
      --master_port="${PORT:-29500}" \
      "$@"
}
