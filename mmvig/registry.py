"""Registration of mmvig's modules: the one place that touches the registries.

Backbones go into the ``MODELS`` registry of mmpretrain, mmdet and mmseg,
whichever are installed; the classification head and the distillation
classifier into mmpretrain's; :class:`FreezeBetaHook` into their ``HOOKS``
and mmengine's; the CPU-capable DDP wrapper into mmengine's
``MODEL_WRAPPERS`` (every library falls back to it); the timm entry points
into timm's. A library that is missing is skipped, and the others still work.
"""
import importlib
from typing import Dict, List

from mmengine.registry import HOOKS, MODEL_WRAPPERS

from .engine import AnyDeviceDistributedDataParallel, FreezeBetaHook
from .models.attention_vig import AttentionViG
from .models.sag_vit import SAGViT

BACKBONES = [AttentionViG, SAGViT]
TASK_LIBRARIES = ('mmpretrain', 'mmdet', 'mmseg')


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def register_all() -> Dict[str, List[str]]:
    """Register everything into the installed libraries.

    Returns:
        dict: library name -> names registered there (for logs and tests).
    """
    done: Dict[str, List[str]] = {}
    HOOKS.register_module(module=FreezeBetaHook, force=True)
    MODEL_WRAPPERS.register_module(module=AnyDeviceDistributedDataParallel,
                                   force=True)
    for library in TASK_LIBRARIES:
        registry = _import(f'{library}.registry')
        if registry is None:
            continue
        modules = list(BACKBONES)
        if library == 'mmpretrain':
            from .models.classifiers import (AttentionViGClsHead,
                                             DistillationClassifier)
            modules += [AttentionViGClsHead, DistillationClassifier]
        for module in modules:
            registry.MODELS.register_module(module=module, force=True)
        registry.HOOKS.register_module(module=FreezeBetaHook, force=True)
        done[library] = [m.__name__ for m in modules + [FreezeBetaHook]]
    timm = _import('timm')
    if timm is not None:
        importlib.import_module('.models.timm_models', __package__)
        done['timm'] = (timm.list_models('attentionvig_*') +
                        timm.list_models('sagvit_*'))
    return done


REGISTERED = register_all()
