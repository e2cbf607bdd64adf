#!/usr/bin/env bash
# Sets up a venv with a tested OpenMMLab stack and mmvig in editable mode,
# on a CPU machine or a GPU node (docs/installation.md, "GPU nodes").
#
#   bash tools/setup_env.sh                     # .venv/, the upstream stack
#   MMVIG_STACK=onedl bash tools/setup_env.sh   # .venv-onedl/, the OneDL fork
#
# Idempotent: a second run takes seconds.
#
# Environment:
#   MMVIG_STACK      'upstream' (default): mmcv 2.1.0, mmengine 0.10.7, mmdet
#                    3.3.0, mmsegmentation 1.2.2, mmpretrain 1.2.0
#                    (requirements/upstream.txt) in .venv/; 'onedl': the
#                    maintained OneDL fork (requirements/onedl.txt) in
#                    .venv-onedl/ (docs/installation.md, "Two stacks")
#   PYTHON           interpreter for the venv (default: python3.11, else python3)
#   MMVIG_CACHE      where built mmcv wheels and the assembled CUDA toolkit are
#                    kept (default: ~/.cache/mmvig); put it on a filesystem the
#                    nodes share and they build mmcv once
#   MAX_JOBS         parallel compile jobs for the mmcv ops (default: cores)
#   MMCV_INDEX_URL   install the stack's mmcv with its ops from this package
#                    index instead of building it (the OneDL fork's index of
#                    onedl-mmcv CUDA wheels for your CUDA and torch)
#   MMVIG_TORCH      'registry' (default): torch 2.13.0 from the package
#                    registry (CUDA 13.0: NVIDIA driver >= 580, GPUs sm_75+);
#                    'keep': the torch PYTHON already has (a cluster module);
#                    the venv then sees PYTHON's site-packages
#   TORCH_INDEX_URL  take torch 2.13.0 / torchvision 0.28.0 from this index,
#                    e.g. https://download.pytorch.org/whl/cu126 (older
#                    drivers, V100)
#   FORCE_CUDA=1     build mmcv's CUDA ops without a visible GPU (a build node)
#   TORCH_CUDA_ARCH_LIST  GPU architectures of mmcv's CUDA ops, e.g. "8.0;9.0"
#                    (default: those of the visible GPUs)
#   CUDA_HOME        a CUDA toolkit that matches torch's CUDA; without one, the
#                    registry's CUDA compiler wheels are assembled in the cache
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQ=$ROOT/requirements
MMVIG_STACK=${MMVIG_STACK:-upstream}
CACHE=${MMVIG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmvig}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
MMVIG_TORCH=${MMVIG_TORCH:-registry}
TORCH_VERSION=2.13.0
TORCHVISION_VERSION=0.28.0
CHECK_ENV=$ROOT/tools/misc/check_env.py

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

case $MMVIG_TORCH in
    registry | keep) ;;
    *) die "MMVIG_TORCH=$MMVIG_TORCH: use 'registry' (default) or 'keep'" ;;
esac
# Each stack: its venv, its pins, and the other stack's distributions, which
# install the same modules (a venv holds one stack).
case $MMVIG_STACK in
    upstream) VENV=$ROOT/.venv OTHER_STACK=onedl ;;
    onedl) VENV=$ROOT/.venv-onedl OTHER_STACK=upstream ;;
    *) die "MMVIG_STACK=$MMVIG_STACK: use 'upstream' (default) or 'onedl'" ;;
esac
STACK_REQ=$REQ/$MMVIG_STACK.txt
pin_of() { grep -E "^$1==" "$2" | head -1 | cut -d= -f3; }
MMCV_DIST=$(grep -E '^(onedl-)?mmcv==' "$STACK_REQ" | cut -d= -f1)
MMCV_VERSION=$(pin_of "$MMCV_DIST" "$STACK_REQ")
MMENGINE_DIST=$(grep -E '^(onedl-)?mmengine==' "$STACK_REQ" | cut -d= -f1)

# 1. The node, before anything is installed: a driver too old for the
#    registry's CUDA 13.0 torch, or a GPU it was not built for, stops here
#    with the torch build that fits (instead of a CPU run or an NCCL error).
GPU_NODE=0
command -v nvidia-smi >/dev/null && GPU_NODE=1
if [[ $GPU_NODE == 1 && $MMVIG_TORCH == registry && -z ${TORCH_INDEX_URL:-} ]]; then
    "$PYTHON" "$CHECK_ENV" --preflight || exit 1
fi

# Fast path: everything is installed, the requirement files did not change,
# and the installed torch runs on this node's GPUs.
STAMP=$VENV/.mmvig-setup
REQ_HASH=$(cat "$REQ"/*.txt "$ROOT/setup.py" "$0" | sha256sum | cut -c1-16)
WANT="$REQ_HASH $MMVIG_STACK ${MMCV_INDEX_URL:-} $MMVIG_TORCH ${TORCH_INDEX_URL:-} ${FORCE_CUDA:-} ${TORCH_CUDA_ARCH_LIST:-}"
if [[ -f $STAMP && $(cat "$STAMP") == "$WANT" ]] &&
    "$VENV/bin/python" -c 'import mmcv.ops, mmdet, mmseg, mmpretrain, mmvig' 2>/dev/null; then
    [[ $GPU_NODE == 0 ]] || "$VENV/bin/python" "$CHECK_ENV" --torch-only || exit 1
    log "environment up to date ($VENV)"
    exit 0
fi

if [[ ! -x $VENV/bin/python ]]; then
    log "creating $VENV with $PYTHON"
    if [[ $MMVIG_TORCH == keep ]]; then
        "$PYTHON" -m venv --system-site-packages "$VENV"
    else
        "$PYTHON" -m venv "$VENV"
    fi
fi
PY=$VENV/bin/python
# This machine's pip configuration may point at a local CPU-only torch wheel that does not match
# the registry's torchvision; uv ignores pip's configuration, so the pair comes from the registry.
"$PY" -m pip install -q --disable-pip-version-check 'uv>=0.5'
UV_PIP=("$VENV/bin/uv" pip install --python "$PY")
UV=("${UV_PIP[@]}" -c "$REQ/constraints.txt" -c "$STACK_REQ")

# 2. torch: the registry's, one from TORCH_INDEX_URL, or the one PYTHON has.
if [[ $MMVIG_TORCH == keep ]]; then
    "$PY" -c 'import torch, torchvision' 2>/dev/null ||
        die "MMVIG_TORCH=keep, but $PYTHON has no torch and torchvision to keep (load your cluster's module first, or unset MMVIG_TORCH)"
    log "keeping torch $("$PY" -c 'import torch; print(torch.__version__)') from $PYTHON"
    # the same pins, with torch and torchvision at the kept versions
    { grep -v -E '^(torch|torchvision)==' "$REQ/constraints.txt"
      "$PY" -c 'import torch, torchvision; print(f"torch=={torch.__version__}\ntorchvision=={torchvision.__version__}")'
    } > "$VENV/constraints-kept-torch.txt"
    UV=("${UV_PIP[@]}" -c "$VENV/constraints-kept-torch.txt" -c "$STACK_REQ")
    "${UV[@]}" -q 'setuptools>=77,<82' wheel ninja
elif [[ -n ${TORCH_INDEX_URL:-} ]]; then
    log "installing torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION from $TORCH_INDEX_URL"
    "${UV[@]}" -q --extra-index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION" \
        "torchvision==$TORCHVISION_VERSION" 'setuptools>=77,<82' wheel ninja numpy
else
    log "installing torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION"
    "${UV[@]}" -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \
        'setuptools>=77,<82' wheel ninja numpy
fi
# The torch now installed must see this node's GPUs, have a kernel for each of
# them, and be one mmcv builds against.
if [[ $GPU_NODE == 1 || $MMVIG_TORCH == keep ]]; then
    "$PY" "$CHECK_ENV" --torch-only || exit 1
fi

# 3. mmcv has no binary wheel for this torch on the registry (upstream mmcv
#    2.1.0, OneDL's onedl-mmcv 2.3.6 alike): build it once with its
#    compiled ops (CUDA ops where a GPU is visible or FORCE_CUDA=1) and cache
#    the wheel under a key of (mmcv, torch, python, CUDA and GPU archs).
BUILD_KEY=$("$PY" - <<'PYEOF'
import os, sys, torch
cuda = torch.version.cuda or ''
archs = ''
if cuda and (torch.cuda.is_available() or os.environ.get('FORCE_CUDA') == '1'):
    archs = os.environ.get('TORCH_CUDA_ARCH_LIST', '').strip()
    if not archs and torch.cuda.is_available():
        caps = sorted({torch.cuda.get_device_capability(i)
                       for i in range(torch.cuda.device_count())})
        archs = ';'.join(f'{a}.{b}' for a, b in caps)
    if not archs:
        sys.exit('[setup] error: FORCE_CUDA=1 without a visible GPU needs the '
                 'architectures to build for: TORCH_CUDA_ARCH_LIST="8.0;9.0" '
                 '(A100 8.0, H100/H200 9.0, L40/RTX 40xx 8.9, A10/RTX 30xx 8.6)')
print(torch.__version__.replace('+', '_'),
      f'cp{sys.version_info[0]}{sys.version_info[1]}', cuda or '-',
      archs.replace(' ', ';') or '-')
PYEOF
)
read -r TORCH_TAG PY_TAG CUDA_VERSION ARCHS <<< "$BUILD_KEY"
if [[ $ARCHS == - ]]; then
    MMCV_KEY=cpu
else
    MMCV_KEY=cu${CUDA_VERSION//./}-sm${ARCHS//[.;]/}
    MMCV_KEY=${MMCV_KEY//+PTX/ptx}
fi
WHEEL_DIR=$CACHE/wheels/$MMCV_DIST-$MMCV_VERSION-torch$TORCH_TAG-$PY_TAG-$MMCV_KEY
MMCV_STAMP=$VENV/.mmvig-mmcv

cuda_home_for() {  # a CUDA_HOME whose nvcc is CUDA $1, assembled if need be
    local want=$1 nvcc
    for nvcc in ${CUDA_HOME:+"$CUDA_HOME/bin/nvcc"} "$(command -v nvcc || true)" /usr/local/cuda/bin/nvcc; do
        [[ -n $nvcc && -x $nvcc ]] || continue
        if "$nvcc" --version 2>/dev/null | grep -q "release $want,"; then
            dirname "$(dirname "$(readlink -f "$nvcc")")"
            return
        fi
    done
    log "no nvcc for CUDA $want found: assembling one from the registry's CUDA wheels in $CACHE/cuda" >&2
    "$PY" "$ROOT/tools/misc/cuda_toolchain.py" --cuda "$want" --dest "$CACHE/cuda" \
        --installer "$VENV/bin/uv pip install -q --python $PY"
}

build_mmcv() {
    local tmp=$WHEEL_DIR.tmp.$$ start=$SECONDS
    "${UV[@]}" -q "$MMENGINE_DIST" addict opencv-python pyyaml yapf packaging Pillow
    rm -rf "$tmp" && mkdir -p "$tmp"
    local env=(MMCV_WITH_OPS=1 "MAX_JOBS=${MAX_JOBS:-$(nproc)}" PIP_FIND_LINKS=)
    if [[ $MMCV_KEY == cpu ]]; then
        log "building $MMCV_DIST $MMCV_VERSION with its CPU ops; ~5 min (mmcv) to ~15 min (onedl-mmcv) on 2 cores, once"
    else
        local home
        home=$(cuda_home_for "$CUDA_VERSION")
        log "building $MMCV_DIST $MMCV_VERSION with CUDA $CUDA_VERSION ops for $ARCHS (nvcc of $home);" \
            "~2.5 core-hours for two archs, once per cache ($WHEEL_DIR)"
        env+=(FORCE_CUDA=1 "TORCH_CUDA_ARCH_LIST=$ARCHS" "CUDA_HOME=$home"
              "CPATH=$("$PY" "$ROOT/tools/misc/cuda_toolchain.py" --cuda "$CUDA_VERSION" --dest - --include-dirs)${CPATH:+:$CPATH}")
    fi
    env "${env[@]}" "$PY" -m pip wheel -q --no-deps --no-build-isolation \
        --no-binary "$MMCV_DIST" -w "$tmp" "$MMCV_DIST==$MMCV_VERSION"
    rm -rf "$WHEEL_DIR" && mv "$tmp" "$WHEEL_DIR"
    log "built $MMCV_DIST in $((SECONDS - start)) s"
}

# A venv switched from the other stack: its distributions go first (they
# install the same modules).
remove_other_stack() {
    local dists
    dists=$(grep -hoE '^[A-Za-z0-9_.-]+==' "$REQ/$OTHER_STACK.txt" | tr -d '=')
    [[ $OTHER_STACK == upstream ]] && dists+=" mmdeploy"
    # shellcheck disable=SC2086
    dists=$("$VENV/bin/uv" pip freeze --python "$PY" 2>/dev/null |
        grep -ioE "^($(echo $dists | tr ' ' '|'))==" | tr -d '=' || true)
    if [[ -n $dists ]]; then
        log "removing the $OTHER_STACK stack from $VENV:" $dists
        # shellcheck disable=SC2086
        "$VENV/bin/uv" pip uninstall -q --python "$PY" $dists
    fi
}

if [[ -n ${MMCV_INDEX_URL:-} ]]; then
    # A prebuilt wheel with the ops for this torch and CUDA, from the index
    # of mmcv's publisher (the OneDL fork publishes cu126 / cu128 / cu130
    # builds of onedl-mmcv): no build, no cache.
    if [[ $(cat "$MMCV_STAMP" 2>/dev/null) != "$MMCV_INDEX_URL" ]] ||
        ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
        log "installing $MMCV_DIST $MMCV_VERSION from $MMCV_INDEX_URL"
        remove_other_stack
        "${UV[@]}" -q --reinstall-package "$MMCV_DIST" --extra-index-url "$MMCV_INDEX_URL" \
            "$MMCV_DIST==$MMCV_VERSION"
        "$PY" -c "import mmcv.ops" 2>/dev/null ||
            die "$MMCV_DIST from $MMCV_INDEX_URL has no compiled ops for this torch ($TORCH_TAG): pick the index of its CUDA and torch, or unset MMCV_INDEX_URL to build it"
        echo "$MMCV_INDEX_URL" > "$MMCV_STAMP"
    fi
elif [[ ! -f $MMCV_STAMP || $(cat "$MMCV_STAMP") != "$WHEEL_DIR" ]] ||
    ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
    mkdir -p "$CACHE/wheels"
    # One build per cache: nodes sharing MMVIG_CACHE wait for the first.
    exec 9>"$WHEEL_DIR.lock"
    command -v flock >/dev/null && flock 9
    if ls "$WHEEL_DIR"/*.whl >/dev/null 2>&1; then
        log "reusing the $MMCV_DIST wheel in $WHEEL_DIR"
    else
        build_mmcv
    fi
    exec 9>&-
    remove_other_stack
    "${UV[@]}" -q --reinstall-package "$MMCV_DIST" "$WHEEL_DIR"/*.whl
    echo "$WHEEL_DIR" > "$MMCV_STAMP"
fi

log "installing the $MMVIG_STACK OpenMMLab libraries, timm and mmvig (editable)"
remove_other_stack
"${UV[@]}" -q -r "$STACK_REQ" -r "$REQ/runtime.txt" -r "$REQ/tests.txt" -e "$ROOT"
if [[ $MMVIG_STACK == upstream ]]; then
    log "installing mmdeploy (whole-model export; its protobuf pin overridden)"
    "${UV[@]}" -q -r "$REQ/mmdeploy.txt" --override "$REQ/mmdeploy-overrides.txt"
fi
"$PY" "$CHECK_ENV" --stack-only || exit 1
"$PY" -c 'import mmcv.ops, mmdet, mmseg, mmpretrain, mmvig; print("[setup] ok: mmcv", mmcv.__version__, "| torch", __import__("torch").__version__, "| mmvig", mmvig.__version__)'
echo "$WANT" > "$STAMP"
if "$PY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())'; then
    log "GPU node: python tools/misc/check_env.py checks the whole GPU stack"
fi
