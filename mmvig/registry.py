"""Registration of mmvig's names: the one place that touches the registries.

``import mmvig`` registers its names in mmengine's root registries, which
the registries of mmpretrain, mmdet and mmseg fall back to, so
``type='AttentionViG'`` builds under any of their default scopes:

- ``MODELS``: ``AttentionViG``, ``SAGViT``, ``AttentionViGClsHead``,
  ``DistillationClassifier``, ``CrossAttentionVig`` (mmpretrain's vanilla
  ViG with cross-attention aggregation, the paper's Table 3);
- ``HOOKS``: ``FreezeBetaHook``, ``StrictLoadHook``, ``DataCheckHook``,
  ``DivergenceHook``;
- ``MODEL_WRAPPERS``: ``AnyDeviceDistributedDataParallel``, when the first
  mmvig model is built (a wrapper must be registered as a class, and DDP
  wraps a model only after it is built);

and timm's model entry points (``attentionvig_s``, ..., ``sagvit_base``) as
soon as timm is imported, before or after mmvig.

Nothing behind a name is imported until it is built: ``import mmvig`` loads
neither mmcv's layers nor mmpretrain, mmdet, mmseg or timm (SAG-ViT's trunk
and the classifier parts come from mmpretrain, which loads when such a model
is built). A name that is already registered is an error, never an
overwrite.
"""
import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from typing import Callable, Dict, List

from mmengine.registry import HOOKS, MODEL_WRAPPERS, MODELS, Registry

# registry -> name -> module (relative to mmvig) that defines it
LAZY: Dict[Registry, Dict[str, str]] = {
    MODELS: {'AttentionViG': '.models.attention_vig',
             'CrossAttentionVig': '.models.vig',
             'SAGViT': '.models.sag_vit',
             'AttentionViGClsHead': '.models.classifiers',
             'DistillationClassifier': '.models.classifiers'},
    HOOKS: {'DataCheckHook': '.engine.hooks',
            'DivergenceHook': '.engine.hooks',
            'FreezeBetaHook': '.engine.hooks',
            'StrictLoadHook': '.engine.hooks'},
}
LAZY_MODULES = {n: m for names in LAZY.values() for n, m in names.items()}
WRAPPER = ('AnyDeviceDistributedDataParallel', '.engine.ddp')
PACKAGE = __name__.rpartition('.')[0]


class RegistrationClash(KeyError):
    """Another package registered one of mmvig's names first."""


def _register(registry: Registry, name: str, module) -> None:
    existing = registry.module_dict.get(name)
    if existing is not None:
        raise RegistrationClash(
            f"mmvig cannot register {name!r} in mmengine's {registry.name!r} "
            f'registry: {existing.__module__}.{existing.__qualname__} is '
            'registered under that name already. Two packages define it; '
            'import only one of them, or rename it.')
    registry.register_module(name=name, module=module)


def load(name: str):
    """The class behind one of mmvig's registered names (imports it, and
    registers the DDP wrapper the first time)."""
    _register_wrapper()
    return getattr(importlib.import_module(LAZY_MODULES[name], PACKAGE), name)


def _builder(name: str) -> Callable:
    def build(*args, **kwargs):
        return load(name)(*args, **kwargs)

    build.__name__ = build.__qualname__ = name
    build.__module__ = f'{PACKAGE}{LAZY_MODULES[name]}'
    build.__doc__ = f'Builds mmvig\'s ``{name}`` (imported on first use).'
    return build


def _register_wrapper() -> None:
    name, module = WRAPPER
    if name not in MODEL_WRAPPERS.module_dict:
        _register(MODEL_WRAPPERS, name,
                  getattr(importlib.import_module(module, PACKAGE), name))


def _register_timm() -> None:
    try:
        importlib.import_module('.models.timm_models', PACKAGE)
    except Exception as error:  # noqa: BLE001 -- never break `import timm`
        warnings.warn(f'mmvig could not register its timm models: {error!r}')


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``callback`` once, right after module ``name`` is imported, then
    leaves ``sys.meta_path``. A spec asked for without an import (an
    availability check) changes nothing."""

    def __init__(self, name: str, callback: Callable[[], None]) -> None:
        self.name = name
        self.callback = callback
        self._finding = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name or self._finding:
            return None
        self._finding = True  # let the other finders find the module
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding = False
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module) -> None:
            exec_module(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
                self.callback()

        spec.loader.exec_module = exec_then_register
        return spec


def register_all() -> Dict[str, List[str]]:
    """Register every mmvig name.

    Returns:
        dict: registry -> names registered there (``'timm'``: the entry
        points, registered now or as soon as timm is imported).
    """
    done: Dict[str, List[str]] = {}
    for registry, names in LAZY.items():
        for name in names:
            _register(registry, name, _builder(name))
        done[f'mmengine.{registry.name}'] = sorted(names)
    done['mmengine.model_wrapper'] = [f'{WRAPPER[0]} (with the first model)']
    timm_names = [f'{a}_{s}' for a, sizes in (('attentionvig', 'smb'),
                                              ('sagvit', ('small', 'base')))
                  for s in sizes]
    if 'timm' in sys.modules:
        _register_timm()
    elif importlib.util.find_spec('timm') is not None:
        sys.meta_path.insert(0, _AfterImport('timm', _register_timm))
    done['timm'] = timm_names
    return done


REGISTERED = register_all()
