"""Fixes for mmengine 0.10.7 on torch >= 2.6, applied on ``import mmvig``.

torch 2.6 made ``torch.load(weights_only=True)`` the default, and mmengine
0.10.7 loads local checkpoints with a bare ``torch.load``: training
checkpoints (they hold the message hub and config objects) then fail to load,
which breaks ``resume`` and ``load_from``. mmvig re-registers mmengine's local
checkpoint loader with ``weights_only=False`` (checkpoints are trusted files
the user points at, as they were before torch 2.6).

mmengine 0.10.7 starts every ``pytorch``-launched process with
``torch.cuda.set_device``, which fails on a machine without CUDA; mmvig
initialises the process group without it there (gloo on CPUs), and leaves GPU
machines to mmengine.

mmengine also needs ``pkg_resources`` for ``mmdet::``-style base configs; it
comes from ``setuptools<82``, a declared dependency of mmvig, and its
deprecation warning is silenced here.
"""
import os.path as osp
import warnings

import mmengine.dist.utils as dist_utils
import torch
import torch.distributed as torch_dist
from mmengine.runner.checkpoint import CheckpointLoader

warnings.filterwarnings('ignore', message='pkg_resources is deprecated',
                        category=UserWarning)


def load_from_local(filename: str, map_location=None):
    """mmengine's local checkpoint loader with ``weights_only=False``."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint {filename} does not exist')
    return torch.load(filename, map_location=map_location, weights_only=False)


_init_dist_pytorch = dist_utils._init_dist_pytorch


def init_dist_pytorch(backend: str, init_backend: str = 'torch',
                      **kwargs) -> None:
    """mmengine's ``pytorch`` launcher init, without CUDA when there is none."""
    if torch.cuda.is_available() or init_backend != 'torch':
        _init_dist_pytorch(backend, init_backend=init_backend, **kwargs)
    else:
        torch_dist.init_process_group(backend=backend, **kwargs)


def apply() -> None:
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)
    dist_utils._init_dist_pytorch = init_dist_pytorch
