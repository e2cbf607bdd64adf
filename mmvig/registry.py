"""Registration of mmvig's modules: the one place that touches the registries.

Backbones go into the ``MODELS`` registry of mmpretrain, mmdet and mmseg,
whichever are installed; the classification head and the distillation
classifier into mmpretrain's; the timm entry points into timm's. A library
that is missing is skipped, and the others still work.
"""
import importlib
from typing import Dict, List

from .models.attention_vig import AttentionViG

BACKBONES = [AttentionViG]
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
        done[library] = [m.__name__ for m in modules]
    timm = _import('timm')
    if timm is not None:
        importlib.import_module('.models.timm_models', __package__)
        done['timm'] = timm.list_models('attentionvig_*')
    return done


REGISTERED = register_all()
