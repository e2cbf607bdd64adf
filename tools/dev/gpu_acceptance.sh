#!/usr/bin/env bash
# The ten-minute GPU acceptance run: what a user's first day on a GPU node
# exercises, in one call, with everything it measures in one folder.
#
#   bash tools/dev/gpu_acceptance.sh            # on a GPU machine
#   bash tools/dev/gpu_acceptance.sh --dry-run  # here: every step a CPU runs
#
# On a GPU machine with Python, torch and Triton but no OpenMMLab package
# (a lent or air-gapped machine), the wheels in .gpu-wheels/ (make gpu-wheels) are
# installed first, into a folder of their own; their MANIFEST says which
# Python and torch they were built for, and any difference is reported.
# Steps, each timed and logged: check_env.py; the SVGA Triton kernels on
# CUDA tensors against the PyTorch path and float64 (pytest -m gpu);
# tools/dist_train.sh with the demo Mask R-CNN (AMP) and Semantic FPN on
# generated scenes, a few iterations each (when mmcv with CUDA ops is
# there); benchmarks/gpu.py. Results go to $OUT (when set)
# or work_dirs/gpu_acceptance: summary.txt and one log per step, 8 files at
# most.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DRY=0
[[ ${1:-} == --dry-run ]] && DRY=1
RESULTS=${OUT:-$ROOT/work_dirs/gpu_acceptance}
mkdir -p "$RESULTS"
SUMMARY=$RESULTS/summary.txt
: > "$SUMMARY"
START=$SECONDS
say() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }

if [[ $DRY == 1 ]]; then
    source "$ROOT/tools/venv_python.sh"
    PY=$(mmvig_python "$ROOT")
    say "dry run on $(uname -n): the steps a CPU machine can run"
else
    PY=${PYTHON:-python3}
fi
export PYTHON=$PY PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}

# 1. The carried wheels, checked against this machine's Python and torch.
HAVE_MMCV=1
if [[ $DRY == 0 ]]; then
    if ls .gpu-wheels/*.whl >/dev/null 2>&1; then
        SITE=/tmp/mmvig-site
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --upgrade --target "$SITE" .gpu-wheels/*.whl >"$RESULTS/wheels.log" 2>&1 ||
            say "FAIL  installing .gpu-wheels (see wheels.log)"
        export PYTHONPATH=$ROOT:$SITE
        "$PY" - <<'PYEOF' | tee -a "$SUMMARY"
import platform, torch
want = dict(line.split(' ', 1) for line in open('.gpu-wheels/MANIFEST').read().splitlines())
have = {'python': '.'.join(platform.python_version_tuple()[:2]),
        'torch': torch.__version__.split('+')[0], 'cuda': torch.version.cuda}
diff = [f'{k}: wheels for {want.get(k)}, this machine has {v}'
        for k, v in have.items() if want.get(k) != v]
print('wheels: ' + ('match this machine (' + ', '.join(f'{k} {v}' for k, v in have.items()) + ')'
                    if not diff else 'DIFFER: ' + '; '.join(diff)))
PYEOF
        grep -q '^mmcv none' .gpu-wheels/MANIFEST && HAVE_MMCV=0
    else
        say "FAIL  no .gpu-wheels/: run make gpu-wheels on a machine with the registry, carry .gpu-wheels"
        HAVE_MMCV=0
    fi
fi

step() {  # step NAME LOGFILE COMMAND...
    local name=$1 log=$2 t0=$SECONDS rc
    shift 2
    "$@" >"$RESULTS/$log" 2>&1
    rc=$?
    if [[ $rc == 0 ]]; then
        say "ok    $name ($((SECONDS - t0)) s)"
    else
        say "FAIL  $name ($((SECONDS - t0)) s, exit $rc): $(tail -n 3 "$RESULTS/$log" | tr '\n' ' ' | cut -c1-300)"
    fi
    return $rc
}

# 2. What is wrong, if anything.
step "check_env.py" check_env.txt "$PY" tools/misc/check_env.py --verbose

# 3. The SVGA kernels on CUDA tensors (skipped on a CPU).
step "Triton kernels on CUDA tensors (pytest -m gpu)" pytest_gpu.txt \
    "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/test_ops

# 4. Short training runs of the demo detector and segmentor.
DATA=$ROOT/data/scenes
[[ -f $DATA/annotations/instances_val.json ]] ||
    "$PY" tools/misc/make_synthetic_data.py scenes "$DATA" --num-train 16 --num-val 4 >/dev/null
WORK=$RESULTS/work
if [[ $DRY == 1 ]]; then  # no NCCL and no AMP on a CPU: the same runs, one process
    TRAIN=("$PY" tools/train.py)
    AMP=()
else
    TRAIN=(bash tools/dist_train.sh)
    AMP=(--amp)
fi
if [[ $HAVE_MMCV == 1 ]]; then
    det=(configs/demo/mask_rcnn_attentionvig_s_scenes.py)
    seg=(configs/demo/fpn_attentionvig_s_scenes.py)
    [[ $DRY == 0 ]] && det+=(1) && seg+=(1)
    step "Mask R-CNN, AttentionViG-S, 1 epoch of 16 scenes${AMP:+, AMP}" train_det.log \
        "${TRAIN[@]}" "${det[@]}" "${AMP[@]}" --work-dir "$WORK/det" \
        --cfg-options train_cfg.max_epochs=1 train_cfg.val_interval=1 model.backbone.init_cfg=None
    step "Semantic FPN, AttentionViG-S, 20 iterations${AMP:+, AMP}" train_seg.log \
        "${TRAIN[@]}" "${seg[@]}" "${AMP[@]}" --work-dir "$WORK/seg" \
        --cfg-options train_cfg.max_iters=20 train_cfg.val_interval=20 model.backbone.init_cfg=None
else
    say "skip  detector and segmentor runs: no mmcv wheel with CUDA ops in .gpu-wheels"
fi

# 5. The GPU benchmark (operator, training step, throughput).
if [[ $DRY == 1 ]]; then
    step "benchmarks/gpu.py --smoke" bench_gpu.txt "$PY" benchmarks/gpu.py --smoke
else
    step "benchmarks/gpu.py" bench_gpu.txt "$PY" benchmarks/gpu.py
fi

FAILED=$(grep -c '^FAIL' "$SUMMARY")
say "done in $((SECONDS - START)) s: $FAILED failed; logs in $RESULTS"
rm -rf "$WORK"
[[ $FAILED == 0 ]]
