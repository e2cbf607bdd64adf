#!/usr/bin/env bash
# Distributed evaluation: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
exec "$(dirname "$0")/torchrun.sh" "$GPUS" test.py "$CONFIG" "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
