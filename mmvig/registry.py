"""mmvig's registries: the one place that touches the registries.

As in mmpretrain, each class registers itself where it is defined
(``@MODELS.register_module()``), and the registries are children of
mmengine's root registries with the scope ``mmvig``:

- ``type='mmvig.AttentionViG'`` builds under any default scope (mmengine
  finds the ``mmvig`` child and imports its locations);
- every name is also registered in mmengine's root registry, which the
  registries of mmpretrain, mmdet and mmseg fall back to, so a bare
  ``type='AttentionViG'`` builds under any of their default scopes, and
  ``MODELS.get('AttentionViG')`` of any of them is the class itself.

``import mmvig`` registers the backbones (``AttentionViG``, ``AdaptViG``,
``GreedyViG``, ``MobileViG``, ``SAGViT``), the hooks (``FreezeBetaHook``,
``StrictLoadHook``, ``DataCheckHook``, ``DivergenceHook``), the DDP wrapper
(``AnyDeviceDistributedDataParallel``), the runner (``MMVigRunner``,
every mmvig config's ``runner_type``) and the data transform
``AlignResize``.
The classes built on mmpretrain's (``AttentionViGClsHead``,
``DistillationClassifier``, ``CrossAttentionVig``) register as soon as
``mmpretrain.models`` is imported, before or after mmvig (mmpretrain's
registry imports it before its first lookup), and timm's entry points
(``attentionvig_s``, ..., ``sagvit_base``) as soon as timm is imported:
``import mmvig`` imports no task library and not timm. A name another
package registered first is an error, never an overwrite.

Why an import hook (a finder on ``sys.meta_path`` that waits for
``mmpretrain.models``, ``mmpretrain.apis`` or ``timm``, registers mmvig's
classes built on them as soon as that module is imported, and leaves):
mmengine's registry ``locations`` import a module only when the ``mmvig``
registry itself is searched (``type='mmvig.X'``, or the ``mmvig`` scope),
not when mmpretrain's registry falls back to the root for a bare
``type='AttentionViGClsHead'``; ``custom_imports`` would have every user
config name the module; and timm has no registry to hook. Importing both
libraries on ``import mmvig`` would tie every mmdet and mmseg user to them.
"""
import functools
import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from typing import Callable, List, Optional, Union

from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

from .errors import MMVigWarning, RegistrationClash

PACKAGE = __name__.rpartition('.')[0]
# Modules whose classes build on a library that mmvig does not import
# itself: imported (and so registered) right after that library.
AFTER_IMPORT = {
    'mmpretrain.models':
    ('.models.distillation', '.models.vig_cross_attention'),
    'timm': ('.models.timm_models', ),
    'mmpretrain.apis': ('.models.model_hub', )
}


class MMVigRegistry(Registry):
    """A child registry (scope ``mmvig``) that also registers each name in
    its parent, mmengine's root registry, refusing a name that is taken
    there by another class."""

    def register_module(
            self,
            name: Optional[Union[str, List[str]]] = None,
            force: bool = False,
            module: Optional[type] = None) -> Union[type, Callable]:
        """mmengine's ``register_module`` (decorator or call), after the
        name is registered in the parent too, or refused there."""
        if module is None:
            return functools.partial(self._register_in_both, name, force)
        return self._register_in_both(name, force, module)

    def _register_in_both(self, name: Optional[Union[str, List[str]]],
                          force: bool, module: type) -> type:
        names = name or module.__name__
        for each in [names] if isinstance(names, str) else names:
            existing = self.parent.module_dict.get(each)
            if existing is not None and existing is not module:
                raise RegistrationClash(
                    f"mmvig cannot register {each!r} in mmengine's "
                    f'{self.parent.name!r} registry: '
                    f'{existing.__module__}.{existing.__qualname__} is '
                    'registered under that name already. Two packages '
                    'define it; import only one of them, or rename it.')
            if existing is None:
                self.parent.register_module(name=each, module=module)
        return super().register_module(name=name, force=force, module=module)


MODELS = MMVigRegistry(
    'model',
    parent=MMENGINE_MODELS,
    scope=PACKAGE,
    locations=[f'{PACKAGE}.models'] +
    [f'{PACKAGE}{m}' for m in AFTER_IMPORT['mmpretrain.models']])
HOOKS = MMVigRegistry(
    'hook',
    parent=MMENGINE_HOOKS,
    scope=PACKAGE,
    locations=[f'{PACKAGE}.engine'])
MODEL_WRAPPERS = MMVigRegistry(
    'model_wrapper',
    parent=MMENGINE_MODEL_WRAPPERS,
    scope=PACKAGE,
    locations=[f'{PACKAGE}.engine'])
RUNNERS = MMVigRegistry(
    'runner',
    parent=MMENGINE_RUNNERS,
    scope=PACKAGE,
    locations=[f'{PACKAGE}.engine'])
TRANSFORMS = MMVigRegistry(
    'transform',
    parent=MMENGINE_TRANSFORMS,
    scope=PACKAGE,
    locations=[f'{PACKAGE}.datasets'])


def _importer(modules) -> Callable[[], None]:

    def register() -> None:
        for module in modules:
            try:
                importlib.import_module(module, PACKAGE)
            except Exception as error:  # noqa: BLE001 -- never break theirs
                warnings.warn(
                    f'mmvig could not register the classes of '
                    f'{PACKAGE}{module}: {error!r}', MMVigWarning)

    return register


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


def register_after_imports() -> None:
    """Register the classes of :data:`AFTER_IMPORT` now if their library is
    imported already, else as soon as it is."""
    for library, modules in AFTER_IMPORT.items():
        if library in sys.modules:
            _importer(modules)()
        elif importlib.util.find_spec(library.partition('.')[0]) is not None:
            sys.meta_path.insert(0, _AfterImport(library, _importer(modules)))
