#!/usr/bin/env bash
# Distributed training: tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
CONFIG=$1
GPUS=$2
exec "$(dirname "$0")/torchrun.sh" "$GPUS" train.py "$CONFIG" \
    --launcher pytorch "${@:3}"
