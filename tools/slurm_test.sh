#!/usr/bin/env bash
# Evaluation on a Slurm cluster:
#   GPUS=8 tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]
exec "$(dirname "$0")/srun.sh" "$1" "$2" test.py "$3" "$4" \
    --launcher=slurm "${@:5}"
