"""Where mmvig relies on another library's internals: each use behind one
small function that says what it relies on, with a test each
(``tests/test_seams.py``) that fails with a clear message when a release of
that library changes it.
"""
import contextlib
from importlib import metadata
from typing import Iterator, List


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
    return [
        entry[1] if isinstance(entry, tuple) else
        f'{entry.__module__}.{entry.__qualname__}' for entry in admitted()
    ]
