"""Where mmvig relies on another library's internals: each use behind one
small function that says what it relies on, with a test each
(``tests/test_seams.py``) that fails with a clear message when a release of
that library changes it.

Two of mmvig's classes override a library's private method, where the
library offers no public hook; the override stays in its class and its
test is here:

- ``mmvig.engine.hooks.AtomicCheckpointHook._save_checkpoint_with_step``:
  mmengine's ``CheckpointHook`` saves every checkpoint through it
  (``(runner, step, meta)``, mmengine 0.10.x of both stacks).
"""
import contextlib
from importlib import metadata
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
import torch._weights_only_unpickler
from torch.nn.modules.batchnorm import _BatchNorm

#: The base class of torch's batch norms (``BatchNorm1d/2d/3d``,
#: ``SyncBatchNorm`` and their lazy forms): torch exports no public one, and
#: mmcv, mmengine and mmdet test norm layers against this one.
BATCH_NORM: type = _BatchNorm

#: torch's weights-only unpickler (``torch.load(weights_only=True)``).
#: Its ``load`` runs every opcode; mmvig's stand-ins check that their caller
#: is that loop (:func:`mmvig.safe_load.stand_ins._unpickler`: the frame two
#: up runs ``TORCH_UNPICKLER.load.__code__``, whose ``self`` is the
#: unpickler and whose ``self.read`` reads the file).
TORCH_UNPICKLER: type = torch._weights_only_unpickler.Unpickler


@contextlib.contextmanager
def config_package_names() -> Iterator[None]:
    """Within the block, mmengine resolves ``mmseg::`` base configs through
    the installed distribution of the ``mmseg`` module.

    mmengine finds the package of a ``scope::path`` base by the distribution
    name in ``mmengine.config.utils.MODULE2PACKAGE`` (``'mmseg'`` ->
    ``'mmsegmentation'``). The OneDL fork installs the same module under
    ``onedl-mmsegmentation``, so onedl-mmengine 0.10.12 stops at every
    ``mmseg::`` base (``mmsegmentation is not installed``); ``mmdet::`` and
    ``mmpretrain::`` resolve because their module and distribution names
    coincide, which the fork's find-by-module fallback catches. On that
    stack the table's entry names the fork's distribution for the block and
    is restored after; on upstream nothing changes.
    """
    from mmengine.config import utils
    table = utils.MODULE2PACKAGE
    saved = table['mmseg']
    if _is_distribution(saved) or not _is_distribution('onedl-mmsegmentation'):
        yield
        return
    table['mmseg'] = 'onedl-mmsegmentation'
    try:
        yield
    finally:
        table['mmseg'] = saved


def _is_distribution(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def mmengine_loader_allowlist() -> List[str]:
    """The names mmengine's own checkpoint loader admits to torch's safe
    loader for each load, empty when it admits none.

    onedl-mmengine 0.10.12 reads every checkpoint inside
    ``torch.serialization.safe_globals(get_torch_safe_globals())``
    (``mmengine/runner/checkpoint.py``): numpy's own ``_reconstruct``,
    ``ndarray``, ``dtype``, ``scalar`` and dtype classes, ``getattr``,
    ``slice`` and ``HistoryBuffer``. Upstream mmengine 0.10.x has no such
    function and loads with torch's defaults. torch keeps its allowlist as a
    set and resolves each name by iterating it, so two entries under one
    name resolve to either, by chance, per process: whoever registers a
    name process-wide must not register one of these.
    """
    from mmengine.runner import checkpoint
    admitted = getattr(checkpoint, 'get_torch_safe_globals', None)
    if admitted is None:
        return []
    return [allowlist_name(entry) for entry in admitted()]


def allowlist_name(entry: Any) -> str:
    """The name torch's allowlist files an entry under: the name given
    with it (``(object, 'module.name')``), else the object's
    ``module.qualname`` (``torch._weights_only_unpickler.
    _get_user_allowed_globals``)."""
    return entry[1] if isinstance(entry, tuple) else \
        f'{entry.__module__}.{entry.__qualname__}'


def torch_allowed_globals() -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """The names torch's weights-only unpickler admits, as it resolves them
    at this moment: its own table and the user's (``add_safe_globals``,
    ``safe_globals``), each ``{'module.qualname': object}``."""
    unpickler = torch._weights_only_unpickler
    return (unpickler._get_allowed_globals(),
            unpickler._get_user_allowed_globals())


@contextlib.contextmanager
def checkpoint_schemes(
        replace: Callable[[str, Callable],
                          Optional[Callable]]) -> Iterator[None]:
    """Within the block, mmengine's ``CheckpointLoader`` reads each scheme
    (prefix) through ``replace(prefix, loader)`` where that returns a
    loader; the registered loaders are restored after.

    mmengine keeps its loaders in the class attribute
    ``CheckpointLoader._schemes`` (``{prefix: loader}``, longest prefix
    first); ``register_scheme`` adds to it and has no way back, so the
    block works on a copy and puts the original back.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    saved = CheckpointLoader._schemes
    CheckpointLoader._schemes = type(saved)(saved)
    for prefix, loader in saved.items():
        replacement = replace(prefix, loader)
        if replacement is not None:
            CheckpointLoader.register_scheme(prefix, replacement, force=True)
    try:
        yield
    finally:
        CheckpointLoader._schemes = saved


def checkpoint_loaders() -> Dict[str, Callable]:
    """mmengine's registered checkpoint loaders, ``{prefix: loader}``."""
    from mmengine.runner.checkpoint import CheckpointLoader
    return dict(CheckpointLoader._schemes)


def runner_checkpoint(runner: Any) -> Tuple[Optional[str], bool]:
    """What a runner was built to load: ``(load_from, resume)``.

    mmengine's ``Runner`` keeps its ``load_from`` and ``resume`` arguments
    as ``_load_from`` and ``_resume`` (a Runner built without a config has
    them nowhere else) and reads them in ``load_or_resume``.
    """
    return runner._load_from, runner._resume


def model_hub_entry(name: str) -> Any:
    """The ``modelindex`` ``Model`` mmpretrain's ``ModelHub`` holds under
    ``name`` as registered (``ModelHub.get`` returns a copy with its config
    loaded), or ``None``."""
    from mmpretrain.apis import ModelHub
    return ModelHub._models_dict.get(name)


def add_to_model_hub(name: str, model: Any) -> None:
    """Put ``model`` (a ``modelindex`` ``Model``) in mmpretrain's
    ``ModelHub`` under ``name``.

    ``ModelHub.register_model_index`` registers a whole model-index file,
    with the weights it names; mmvig registers its models one by one with
    its own no-weights URL, in the table that method fills
    (``ModelHub._models_dict``).
    """
    from mmpretrain.apis import ModelHub
    ModelHub._models_dict[name] = model
