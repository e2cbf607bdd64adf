"""mmvig: graph-based vision backbones (AttentionViG, SAG-ViT) for OpenMMLab.

``import mmvig`` checks the versions of the installed OpenMMLab stack,
upstream or OneDL (:mod:`mmvig.stack`), registers mmvig's classes
(:mod:`mmvig.registry`) and, on the upstream stack, admits the data types
of OpenMMLab training checkpoints to torch's safe loader
(:mod:`mmvig.safe_load`; onedl-mmengine admits its own). It changes nothing
else and imports no task library and not timm.
"""
from .stack import check_versions

check_versions()  # one line naming an unsupported version, before mmcv loads

from .datasets import AlignResize
from .engine import (AnyDeviceDistributedDataParallel, DataCheckHook,
                     DivergenceHook, FreezeBetaHook, StrictLoadHook)
from .models import AdaptViG, AttentionViG, GreedyViG, MobileViG, SAGViT
from .registry import register_after_imports
from .safe_load import allow_training_checkpoint_types
from .version import __version__

allow_training_checkpoint_types()
register_after_imports()

__all__ = [
    '__version__', 'AdaptViG', 'AlignResize',
    'AnyDeviceDistributedDataParallel', 'AttentionViG', 'DataCheckHook',
    'DivergenceHook', 'FreezeBetaHook', 'GreedyViG', 'MobileViG', 'SAGViT',
    'StrictLoadHook'
]
