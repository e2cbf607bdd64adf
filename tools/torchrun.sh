#!/usr/bin/env bash
# Runs a tools/ script under torchrun: tools/torchrun.sh NPROC SCRIPT [args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
# Runs the venv of MMVIG_STACK (.venv/ by default, .venv-onedl/ for onedl)
# when it exists, unless PYTHON is set (tools/venv_python.sh).
set -e
NPROC=$1
SCRIPT=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tools/venv_python.sh"
PYTHON=$(mmvig_python "$ROOT")

PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$ROOT/tools/$SCRIPT" "$@"
