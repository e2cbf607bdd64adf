"""Safe checkpoint loading.

A checkpoint is untrusted input: a pickle can run any code while it loads.
mmvig loads every checkpoint with ``torch.load(weights_only=True)``, which
rebuilds tensors, containers and an allowlist of types, and refuses anything
else. The training checkpoints of mmengine, mmpretrain, mmdet and mmseg hold
a few Python objects besides tensors (the message hub's history buffers,
numpy scalars, dtypes and arrays); :func:`safe_types` lists exactly those,
and :func:`allow_training_checkpoint_types` adds them to torch's allowlist
(on ``import mmvig``), so that mmengine's own loader (``resume``, ``load_from``,
``Pretrained`` init, the task libraries' ``train.py`` / ``test.py``) reads
these checkpoints too. That is the only process-wide change mmvig makes: it
lets these data types through the same safe unpickler, and one lookup:
mmengine pickles a history buffer's statistics methods as
``getattr(HistoryBuffer, 'mean')``, so ``getattr`` is admitted for exactly
``min``, ``max``, ``current`` and ``mean`` of that class, a fixed set, and
refused for anything else. A history buffer's state is checked before it is
applied (it may map those four names to their own methods only), so no
checkpoint can change the class-wide statistics table.

A checkpoint that needs anything else is refused with
:class:`UnsafeCheckpointError`, naming the file and the types. Who trusts
such a file opts in with torch's own switch, for one process:
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (mmvig's loader then leaves the
choice to torch, as mmengine's does).
"""
import functools
import os
import os.path as osp
import pickle
import re
from typing import Any, List

import numpy as np
import torch

from .errors import InputError

TRUST_SWITCH = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'
# Starts the unpickler errors of mmvig's own checks (the allowlisted
# lookups and states), so that a refusal is told from an unreadable file.
_REFUSAL = 'refused: '


def _numpy_types() -> List[Any]:
    """numpy scalars, dtypes and arrays as numpy pickles them."""
    if int(np.__version__.split('.')[0]) >= 2:
        from numpy._core import multiarray
    else:
        from numpy.core import multiarray
    dtypes = [type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
        np.uint16, np.uint32, np.uint64, np.float16, np.float32, np.float64)]
    return [multiarray.scalar, multiarray._reconstruct, np.ndarray, np.dtype,
            *dtypes]


# The statistics mmengine registers on HistoryBuffer itself: the only names
# a checkpoint may look up, fixed here (no checkpoint data can add one).
HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})
_HISTORY_BUFFER_STATE = frozenset({'max_length', '_log_history',
                                   '_count_history', 'statistics_methods'})


def _history_buffer_statistic(owner: Any, name: str) -> Any:
    """The one ``getattr`` a training checkpoint makes: mmengine pickles each
    history buffer's statistics methods as ``getattr(HistoryBuffer, name)``.
    Only that lookup, of one of :data:`HISTORY_BUFFER_STATISTICS`, is
    allowed."""
    from mmengine.logging.history_buffer import HistoryBuffer
    # the unpickler hands the stand-in for the class name HistoryBuffer
    if owner not in (HistoryBuffer, _checked_history_buffer()) or \
            name not in HISTORY_BUFFER_STATISTICS:
        raise pickle.UnpicklingError(
            f'{_REFUSAL}getattr({getattr(owner, "__name__", owner)!r}, '
            f'{name!r}) is '
            'not allowed in a checkpoint (only the statistics methods '
            f"{sorted(HISTORY_BUFFER_STATISTICS)} of mmengine's "
            'HistoryBuffer are)')
    return getattr(HistoryBuffer, name)


@functools.lru_cache(maxsize=None)
def _checked_history_buffer():
    """A stand-in for mmengine's ``HistoryBuffer`` in the unpickler: its
    state is checked before ``HistoryBuffer.__setstate__`` applies it (which
    updates the class-wide statistics table), and the object becomes a plain
    ``HistoryBuffer``."""
    from mmengine.logging.history_buffer import HistoryBuffer

    class CheckedHistoryBuffer(HistoryBuffer):

        def __setstate__(self, state: Any) -> None:
            if not isinstance(state, dict) or \
                    not set(state) <= _HISTORY_BUFFER_STATE:
                raise pickle.UnpicklingError(
                    f'{_REFUSAL}a HistoryBuffer state has unexpected '
                    f'entries: {sorted(map(repr, state))[:8]}')
            methods = state.get('statistics_methods', {})
            if not isinstance(methods, dict) or any(
                    name not in HISTORY_BUFFER_STATISTICS
                    or method is not getattr(HistoryBuffer, name)
                    for name, method in methods.items()):
                raise pickle.UnpicklingError(
                    f'{_REFUSAL}a HistoryBuffer state maps its statistics '
                    'to something other than their own methods '
                    f'{sorted(HISTORY_BUFFER_STATISTICS)}')
            self.__class__ = HistoryBuffer
            HistoryBuffer.__setstate__(self, state)

    return CheckedHistoryBuffer


def _mmengine_types() -> List[Any]:
    return [(_checked_history_buffer(),
             'mmengine.logging.history_buffer.HistoryBuffer'),
            (_history_buffer_statistic, 'builtins.getattr')]


def safe_types() -> List[Any]:
    """The types training checkpoints of the OpenMMLab libraries hold, as
    entries of torch's ``add_safe_globals``."""
    return _numpy_types() + _mmengine_types()


def allow_training_checkpoint_types() -> None:
    """Add :func:`safe_types` to torch's ``weights_only`` allowlist."""
    torch.serialization.add_safe_globals(safe_types())


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds objects outside the safe allowlist."""


class CheckpointFileError(InputError):
    """A file is not a readable checkpoint (truncated, text, empty...)."""


def _trusted() -> bool:
    return os.environ.get(TRUST_SWITCH, '0').lower() in ('1', 'y', 'yes',
                                                          'true')


def unpickler_reason(error: Exception) -> str:
    """The unpickler's own words from torch's long message."""
    text = str(error)
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:', 1)[1]
        text = text.split('Check the documentation of torch.load', 1)[0]
    return ' '.join(text.split()) or type(error).__name__


def _unsafe_globals(filename: str, error: Exception) -> List[str]:
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(filename)
    except Exception:  # noqa: BLE001 -- fall back to the error's own words
        return re.findall(r'GLOBAL ([\w.]+)', str(error))


def load_checkpoint_file(filename: str, map_location: Any = 'cpu') -> Any:
    """``torch.load`` a local checkpoint safely, with errors that name it.

    Args:
        filename: Path of the checkpoint.
        map_location: As for ``torch.load``.

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: it needs types outside the allowlist.
        CheckpointFileError: it is not a checkpoint torch can read.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint {filename} does not exist')
    try:
        return torch.load(filename, map_location=map_location,
                          weights_only=None if _trusted() else True)
    except pickle.UnpicklingError as error:
        reason = unpickler_reason(error)
        if reason.startswith(_REFUSAL):
            raise UnsafeCheckpointError(
                f'Refused to load {filename}: {reason[len(_REFUSAL):]}. A '
                'training checkpoint holds nothing of the kind.') from None
        found = _unsafe_globals(filename, error)
        if not found:
            raise CheckpointFileError(
                f'{filename} is not a readable checkpoint (the unpickler '
                f'says: {unpickler_reason(error)})') from None
        raise UnsafeCheckpointError(
            f'Refused to load {filename}: it holds {", ".join(found)}, '
            'which a training checkpoint does not need and which could run '
            'code while loading. If you trust this file, allow it with '
            f'{TRUST_SWITCH}=1 in the environment of this one run.'
        ) from None
    except Exception as error:  # noqa: BLE001 -- garbage fails any way
        raise CheckpointFileError(
            f'{filename} is not a readable checkpoint '
            f'({type(error).__name__}: {error})') from None


def load_checkpoint(filename: str, map_location: Any = 'cpu') -> Any:
    """:func:`load_checkpoint_file` for local paths; URLs (``http://``,
    ``s3://``...) through mmengine's loaders, which use the same safe
    ``torch.load``, with errors that name the address."""
    if '://' not in filename:
        return load_checkpoint_file(filename, map_location)
    from mmengine.runner.checkpoint import CheckpointLoader
    try:
        return CheckpointLoader.load_checkpoint(filename,
                                                map_location=map_location)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f'Refused to load {filename}: {error}. If you trust this file, '
            f'allow it with {TRUST_SWITCH}=1 in the environment of this one '
            'run.') from None
