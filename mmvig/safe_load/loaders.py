"""mmvig's loader under mmengine's: every scheme of ``CheckpointLoader``
reads through :func:`~mmvig.safe_load.urls.read_checkpoint` within
:func:`checked_checkpoint_loaders`, and every ``torch.load`` of a tool's
run is weights-only (:func:`weights_only_everywhere`)."""
import contextlib
import os
from typing import Any, Callable, Iterator, Optional

from ..seams import checkpoint_schemes
from .loader import _trusted
from .resume import _RESUMING, check_resume_meta
from .urls import read_checkpoint

# torch's switch that makes every torch.load weights-only, even one that asks
# for weights_only=False (see :func:`weights_only_everywhere`).
FORCE_SWITCH = 'TORCH_FORCE_WEIGHTS_ONLY_LOAD'


@contextlib.contextmanager
def weights_only_everywhere() -> Iterator[None]:
    """Within the block (a tool's run; never on ``import mmvig``), every
    ``torch.load`` is weights-only, also one that asks for
    ``weights_only=False``: onedl-mmengine's loader does ask when torch's
    safe load refuses a file ("Falling back to weights_only=False").
    mmvig's runs read through :func:`read_checkpoint` instead; this closes
    any other way in. Nothing changes when the user trusts the run's
    checkpoints (:data:`TRUST_SWITCH`, which torch refuses beside this
    switch) or has set the switch. Processes the block starts (a
    distributed launch's workers) inherit it."""
    if _trusted() or FORCE_SWITCH in os.environ:
        yield
        return
    os.environ[FORCE_SWITCH] = '1'
    try:
        yield
    finally:
        os.environ.pop(FORCE_SWITCH, None)


def load_from_mmvig(filename: str, map_location: Any = None) -> Any:
    """mmengine's checkpoint-loader signature over :func:`read_checkpoint`
    (see :func:`checked_checkpoint_loaders`); a resume's checkpoint is
    checked by :func:`check_resume_meta` too."""
    checkpoint = read_checkpoint(filename, map_location)
    if _RESUMING.get():
        check_resume_meta(checkpoint, filename)
    return checkpoint


@contextlib.contextmanager
def checked_checkpoint_loaders() -> Iterator[None]:
    """Within the block, every scheme of mmengine's ``CheckpointLoader``
    (local paths, ``http(s)://``, ``torchvision://``, ``open-mmlab://``,
    ``s3://``...: whatever is registered) reads through
    :func:`load_from_mmvig`, so that ``load_from``, a resume and any
    ``Pretrained`` init read a checkpoint the way mmvig does. Only a
    tightening: what mmvig's loader admits, torch's safe loader admits too.
    mmvig's own schemes keep their loaders; the loaders registered before
    are restored on leaving."""
    package = __name__.partition('.')[0]

    def checked(prefix: str, loader: Callable) -> Optional[Callable]:
        return None if loader.__module__.startswith(package) else \
            load_from_mmvig

    with checkpoint_schemes(checked):
        yield
