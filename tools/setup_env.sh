#!/usr/bin/env bash
# Sets up .venv/ with the tested OpenMMLab stack and mmvig in editable mode.
#
#   bash tools/setup_env.sh          # idempotent: a second run takes seconds
#
# Environment:
#   PYTHON       interpreter for the venv (default: python3.11, else python3)
#   MMVIG_CACHE  where built mmcv wheels are kept (default: ~/.cache/mmvig)
#   MAX_JOBS     parallel compile jobs for the mmcv ops (default: number of cores)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$ROOT/.venv
REQ=$ROOT/requirements
CACHE=${MMVIG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmvig}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
TORCH_VERSION=2.13.0
TORCHVISION_VERSION=0.28.0
MMCV_VERSION=2.1.0

log() { printf '[setup] %s\n' "$*"; }

# Fast path: everything is installed and the requirement files did not change.
STAMP=$VENV/.mmvig-setup
REQ_HASH=$(cat "$REQ"/*.txt "$ROOT/setup.py" "$0" | sha256sum | cut -c1-16)
if [[ -f $STAMP && $(cat "$STAMP") == "$REQ_HASH" ]] &&
    "$VENV/bin/python" -c 'import mmcv.ops, mmdet, mmseg, mmpretrain, mmvig' 2>/dev/null; then
    log "environment up to date ($VENV)"
    exit 0
fi

[[ -x $VENV/bin/python ]] || { log "creating $VENV with $PYTHON"; "$PYTHON" -m venv "$VENV"; }
PY=$VENV/bin/python
# This machine's pip configuration may point at a local CPU-only torch wheel that does not match
# the registry's torchvision; uv ignores pip's configuration, so the pair comes from the registry.
"$PY" -m pip install -q --disable-pip-version-check 'uv>=0.5'
UV=("$VENV/bin/uv" pip install --python "$PY" -c "$REQ/constraints.txt")

log "installing torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION"
"${UV[@]}" -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \
    'setuptools>=77,<82' wheel ninja 'numpy<2'

# mmcv has no binary wheel for this torch: build it once with its compiled ops, cache the wheel
# under a key of (mmcv, torch build, python), and reuse it on later runs.
read -r TORCH_TAG PY_TAG CUDA_TAG < <("$PY" - <<'PYEOF'
import sys, torch
cuda = 'cu' + torch.version.cuda.replace('.', '') if torch.cuda.is_available() else 'cpu'
print(torch.__version__.replace('+', '_'), f'cp{sys.version_info[0]}{sys.version_info[1]}', cuda)
PYEOF
)
WHEEL_DIR=$CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_TAG-$PY_TAG-$CUDA_TAG
if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        log "building mmcv $MMCV_VERSION with ops ($CUDA_TAG); this takes ~15 min on 2 cores, once"
        "${UV[@]}" -q 'mmengine==0.10.7' addict opencv-python pyyaml yapf packaging Pillow
        mkdir -p "$WHEEL_DIR.tmp"
        MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} PIP_FIND_LINKS= \
            "$PY" -m pip wheel -q --no-deps --no-build-isolation --no-binary mmcv \
            -w "$WHEEL_DIR.tmp" "mmcv==$MMCV_VERSION"
        rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"
    else
        log "reusing cached mmcv wheel from $WHEEL_DIR"
    fi
    "${UV[@]}" -q "$WHEEL_DIR"/mmcv-*.whl
fi

log "installing the OpenMMLab libraries, timm and mmvig (editable)"
"${UV[@]}" -q -r "$REQ/runtime.txt" -r "$REQ/tests.txt" -e "$ROOT"
log "installing mmdeploy (whole-model export; its protobuf pin overridden)"
"${UV[@]}" -q -r "$REQ/mmdeploy.txt" --override "$REQ/mmdeploy-overrides.txt"
"$PY" -c 'import mmcv.ops, mmdet, mmseg, mmpretrain, mmvig; print("[setup] ok: mmcv", mmcv.__version__, "| torch", __import__("torch").__version__, "| mmvig", mmvig.__version__)'
echo "$REQ_HASH" > "$STAMP"
