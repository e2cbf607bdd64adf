"""Which of mmcv's compiled ops Mask R-CNN and Semantic FPN call, found by
running them: every function of ``mmcv._ext`` is wrapped with a recorder,
then the tiny AttentionViG Mask R-CNN and Semantic FPN train an epoch (two
iterations) on generated scenes and validate, as the real configs do. The
CUDA sources of those ops are what the GPU build must compile
(``tests/test_tools/test_cuda_build.py`` compiles them).

    python tools/dev/mmcv_ops_used.py [--out FILE]   # one JSON object
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile
from typing import Dict, List, Set

import mmvig  # noqa: F401  (registers mmvig's modules)
from mmvig.apis import read_config


def record_ext_calls() -> Set[str]:
    """Wrap each function of ``mmcv._ext``; returns the set it fills."""
    import mmcv._ext as ext
    called: Set[str] = set()
    for name in dir(ext):
        function = getattr(ext, name)
        if name.startswith('_') or not callable(function):
            continue

        def wrapper(*args, __name=name, __function=function, **kwargs):
            called.add(__name)
            return __function(*args, **kwargs)

        setattr(ext, name, wrapper)
    return called


def cuda_sources(ops: List[str], mmcv_root: str) -> Dict[str, str]:
    """The ``csrc/pytorch/cuda`` file of each op: the longest ``X_cuda.cu``
    whose X starts the op's name (``roi_align_forward`` ->
    ``roi_align_cuda.cu``)."""
    folder = osp.join(mmcv_root, 'ops', 'csrc', 'pytorch', 'cuda')
    stems = sorted((f[:-len('_cuda.cu')]
                    for f in os.listdir(folder) if f.endswith('_cuda.cu')),
                   key=len,
                   reverse=True)
    found = {}
    for op in ops:
        for stem in stems:
            if op == stem or op.startswith(stem + '_'):
                found[op] = f'{stem}_cuda.cu'
                break
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', help='write the JSON here (default: print)')
    args = parser.parse_args()
    import mmcv
    from mmengine.runner import Runner

    from mmvig.datasets import make_scene_set
    from mmvig.testing import tiny_task_config
    called = record_ext_calls()
    used = {}
    with tempfile.TemporaryDirectory() as root:
        scenes = osp.join(root, 'scenes')
        make_scene_set(
            scenes, num_train=4, num_val=2, image_size=(128, 96), seed=1)
        for task in ('det', 'seg'):
            called.clear()
            cfg = read_config(tiny_task_config(root, task, scenes))
            cfg.work_dir = osp.join(root, task)
            cfg.log_level = 'WARNING'
            cfg.visualizer.name = f'ops_used_{task}'
            Runner.from_cfg(cfg).train()
            used[task] = sorted(called)
    ops = sorted({op for names in used.values() for op in names})
    text = json.dumps(
        {
            'mask_rcnn': used['det'],
            'semantic_fpn': used['seg'],
            'cuda_sources': cuda_sources(ops, osp.dirname(mmcv.__file__))
        },
        indent=1)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    else:
        print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
