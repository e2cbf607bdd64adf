#!/usr/bin/env bash
# Fills .gpu-wheels/ (ignored) with what tools/dev/gpu_acceptance.sh needs on
# a GPU machine that has Python, torch and Triton but no OpenMMLab package
# and no network: the OpenMMLab libraries and their missing dependencies as
# wheels for its Python, and mmcv 2.1.0 built here with its CUDA ops against
# its exact torch, in a side environment (Python and torch of the GPU
# machine, the registry's CUDA compiler wheels).
#
#   make gpu-wheels                        # the defaults below
#   GPU_PYTHON=3.12 GPU_TORCH=2.11.0 GPU_ARCHS="9.0" bash tools/dev/gpu_wheels.sh
#
# Environment:
#   GPU_PYTHON   the GPU machine's Python (default 3.12)
#   GPU_TORCH    its torch, a CUDA 13 build from the registry (default 2.11.0)
#   GPU_ARCHS    TORCH_CUDA_ARCH_LIST of the mmcv build (default 9.0: H100/H200)
#   GPU_MMCV=0   skip the mmcv build (the acceptance run then skips the
#                detector and segmentor runs)
#   MMVIG_CACHE  where the side environment, the CUDA toolkit and the built
#                mmcv wheel are kept (default ~/.cache/mmvig)
#   MAX_JOBS     parallel compile jobs (default: cores)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$ROOT/.gpu-wheels
CACHE=${MMVIG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmvig}
GPU_PYTHON=${GPU_PYTHON:-3.12}
GPU_TORCH=${GPU_TORCH:-2.11.0}
GPU_ARCHS=${GPU_ARCHS:-9.0}
PYTAG=cp${GPU_PYTHON//./}
MMCV_VERSION=2.1.0

log() { printf '[gpu-wheels] %s\n' "$*"; }
die() { printf '[gpu-wheels] error: %s\n' "$*" >&2; exit 1; }

# The pure-Python and binary wheels such a GPU image lacks (its Python has
# torch, numpy, scipy, matplotlib, opencv, timm), at the tested versions.
WHEELS=(
    mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 mmpretrain==1.2.0
    addict==2.4.0 termcolor==3.3.0 yapf==0.43.0 platformdirs==4.14.9
    terminaltables==3.1.10 prettytable==3.19.0 wcwidth==0.9.4 ftfy==6.3.1
    pycocotools==2.0.11 shapely==2.2.0 mat4py==0.6.0 modelindex==0.0.2
    model-index==0.1.11 ordered-set==4.1.0 importlib-metadata==10.2.0
    lazy-importer==0.1.0 'setuptools<82'
)

mkdir -p "$OUT"
rm -f "$OUT"/*.whl
log "downloading the OpenMMLab wheels for Python $GPU_PYTHON"
PIP_FIND_LINKS= python3 -m pip download -q --no-deps --only-binary=:all: \
    --python-version "$GPU_PYTHON" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d "$OUT" "${WHEELS[@]}"

MMCV_DESC=none
if [[ ${GPU_MMCV:-1} != 0 ]]; then
    KEY=mmcv-$MMCV_VERSION-torch${GPU_TORCH}-$PYTAG-cu130-sm${GPU_ARCHS//[.;]/}
    WHEEL_DIR=$CACHE/wheels/$KEY
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        SIDE=$CACHE/side-env-$PYTAG-torch$GPU_TORCH
        PYBIN=
        for candidate in "$(command -v "python$GPU_PYTHON" || true)" \
            "$HOME"/.pyenv/versions/"$GPU_PYTHON"*/bin/python3; do
            if [[ -x $candidate ]] && "$candidate" -c pass 2>/dev/null; then
                PYBIN=$candidate; break
            fi
        done
        [[ -n $PYBIN ]] || die "no Python $GPU_PYTHON here (pyenv install $GPU_PYTHON)"
        if [[ ! -x $SIDE/bin/python ]]; then
            log "side environment $SIDE: Python $GPU_PYTHON + torch $GPU_TORCH (a few GB, once)"
            "$PYBIN" -m venv "$SIDE"
            "$SIDE/bin/python" -m pip install -q --disable-pip-version-check 'uv>=0.5'
        fi
        "$SIDE/bin/uv" pip install -q --python "$SIDE/bin/python" "torch==$GPU_TORCH" \
            'setuptools>=77,<82' wheel ninja numpy 'mmengine==0.10.7' addict \
            opencv-python-headless pyyaml yapf packaging Pillow psutil
        CUDA=$("$SIDE/bin/python" -c 'import torch; print(torch.version.cuda)')
        [[ $CUDA == 13.0 ]] || die "torch $GPU_TORCH from the registry is CUDA $CUDA, the GPU machine's is 13.0"
        HOME_CUDA=$("$SIDE/bin/python" "$ROOT/tools/misc/cuda_toolchain.py" --cuda "$CUDA" \
            --dest "$CACHE/cuda" --installer "$SIDE/bin/uv pip install -q --python $SIDE/bin/python")
        INCLUDES=$("$SIDE/bin/python" "$ROOT/tools/misc/cuda_toolchain.py" --cuda "$CUDA" --dest - --include-dirs)
        log "building mmcv $MMCV_VERSION with CUDA ops for $GPU_ARCHS (nvcc of $HOME_CUDA)"
        start=$SECONDS
        rm -rf "$WHEEL_DIR.tmp" && mkdir -p "$WHEEL_DIR.tmp"
        MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$GPU_ARCHS" CUDA_HOME="$HOME_CUDA" \
            CPATH="$INCLUDES" MAX_JOBS=${MAX_JOBS:-$(nproc)} PIP_FIND_LINKS= \
            "$SIDE/bin/python" -m pip wheel -q --no-deps --no-build-isolation --no-binary mmcv \
            -w "$WHEEL_DIR.tmp" "mmcv==$MMCV_VERSION"
        rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"
        log "built mmcv in $((SECONDS - start)) s"
    fi
    cp "$WHEEL_DIR"/mmcv-*.whl "$OUT"/
    MMCV_DESC="$MMCV_VERSION CUDA 13.0 $GPU_ARCHS"
fi
cat > "$OUT/MANIFEST" <<EOF
python $GPU_PYTHON
torch $GPU_TORCH
cuda 13.0
mmcv $MMCV_DESC
EOF
log "$(du -sh "$OUT" | cut -f1) in $OUT ($(ls "$OUT"/*.whl | wc -l) wheels); carry it to the GPU machine"
