"""Safe checkpoint loading.

A checkpoint is untrusted input: a pickle can run any code while it loads.
mmvig loads every checkpoint with ``torch.load(weights_only=True)``, which
rebuilds tensors, containers and an allowlist of types, and refuses anything
else. The training checkpoints of mmengine, mmpretrain, mmdet and mmseg hold
a few Python objects besides tensors (the message hub's history buffers,
numpy scalars, dtypes and arrays); :func:`safe_types` lists a checking
stand-in for each, and :func:`allow_training_checkpoint_types` adds them to
torch's allowlist (on ``import mmvig``), so that mmengine's own loader
(``resume``, ``load_from``, ``Pretrained`` init, the task libraries'
``train.py`` / ``test.py``) reads these checkpoints too. That is the only
process-wide change mmvig makes, and what it admits is data:

- numpy dtypes of the plain numeric kinds only (bool, integers, floats,
  complex), whose pickled state sets nothing but the byte order (no object
  dtype, no sub-array, no fields);
- numpy scalars and arrays of those dtypes, from exactly as many bytes as
  their shape needs (arrays load as :class:`LoadedArray`, an ndarray
  subclass that pickles back as a plain ndarray; a bare dtype as
  :class:`LoadedDtype`, whose ``dtype`` is the numpy dtype);
- mmengine's ``HistoryBuffer``, whose state is checked before it is applied:
  two numeric 1-D histories of one length, a positive ``max_length``, and
  statistics that map ``min``, ``max``, ``current``, ``mean`` to their own
  methods (so no checkpoint can change the class-wide statistics table);
- one lookup: mmengine pickles a history buffer's statistics methods as
  ``getattr(HistoryBuffer, 'mean')``, so ``getattr`` is admitted for exactly
  those four names of that class, a fixed set no checkpoint can widen.

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
import zipfile
from typing import Any, List

import numpy as np
import torch

from .errors import InputError

TRUST_SWITCH = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'
# Starts the unpickler errors of mmvig's own checks (the allowlisted
# lookups and states), so that a refusal is told from an unreadable file.
_REFUSAL = 'refused: '


# numpy pickles a dtype as ``dtype(code, align, copy)`` followed by a BUILD
# state; for the plain numeric dtypes that state is only a byte order.
PLAIN_NUMERIC_KINDS = frozenset('biufc')  # bool, int, uint, float, complex
_BYTE_ORDERS = ('<', '>', '|', '=')
_DTYPE_STATE_TAIL = (None, None, None, -1, -1, 0)  # no sub-array, no fields


def _refuse(what: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f'{_REFUSAL}{what}')


class LoadedDtype:
    """A pickled numpy dtype as mmvig's allowlist reads it: plain numeric
    dtypes only (``bool``, integers, floats, complex; no object dtype, no
    sub-array, no fields), and a BUILD state that may set the byte order and
    nothing else. The numpy dtype is :attr:`dtype`; arrays and scalars are
    rebuilt from it, never from the file's state.

    Args:
        code: The dtype's type string as numpy pickles it (``'f8'``).
        align: numpy's ``align`` flag; plain numeric dtypes pickle False.
        copy: numpy's ``copy`` flag (ignored: the dtype is always a copy).
    """

    def __init__(self, code: Any, align: Any = False, copy: Any = True):
        if not isinstance(code, str) or align is not False or \
                not isinstance(copy, bool):
            raise _refuse(f'dtype{(code, align, copy)!r} is not a plain '
                          'numeric numpy dtype')
        try:
            dtype = np.dtype(code)
        except Exception:  # noqa: BLE001 -- any unreadable code is refused
            raise _refuse(f'dtype {code!r} is not a numpy dtype') from None
        if dtype.kind not in PLAIN_NUMERIC_KINDS or dtype.fields is not None \
                or dtype.subdtype is not None or dtype.hasobject:
            raise _refuse(f'dtype {code!r} is not a plain numeric numpy '
                          f'dtype (kinds {"".join(sorted(PLAIN_NUMERIC_KINDS))}'
                          ' only)')
        self.dtype = dtype

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 8
                and state[0] == 3 and state[1] in _BYTE_ORDERS
                and state[2:] == _DTYPE_STATE_TAIL):
            raise _refuse(f'a {self.dtype} dtype state sets more than its '
                          f'byte order: {state!r:.200}')
        if state[1] in '<>':
            self.dtype = self.dtype.newbyteorder(state[1])

    def __reduce__(self) -> Any:
        return self.dtype.__reduce__()

    def __repr__(self) -> str:
        return f'LoadedDtype({self.dtype!r})'


class LoadedArray(np.ndarray):
    """A pickled numpy array as mmvig's allowlist rebuilds it: a plain
    ndarray's data (checked against its shape and :class:`LoadedDtype`), in
    this subclass because the unpickler keeps the object it was handed. It
    pickles as a plain ``numpy.ndarray``; history buffers hold plain arrays.
    """

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5
                and state[0] == 1 and isinstance(state[2], LoadedDtype)
                and isinstance(state[3], bool)
                and isinstance(state[4], bytes)
                and isinstance(state[1], tuple)
                and all(type(n) is int and n >= 0 for n in state[1])):
            raise _refuse(f'an array state is not a plain numeric array: '
                          f'{state!r:.200}')
        _, shape, dtype, fortran, data = state
        size = 1
        for n in shape:
            size *= n
        if len(data) != size * dtype.dtype.itemsize:
            raise _refuse(f'an array of shape {shape} and dtype '
                          f'{dtype.dtype} holds {len(data)} bytes')
        np.ndarray.__setstate__(self, (1, shape, dtype.dtype, fortran, data))

    def __reduce_ex__(self, protocol: int) -> Any:
        return self.view(np.ndarray).__reduce_ex__(protocol)

    def __reduce__(self) -> Any:
        return self.view(np.ndarray).__reduce__()


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> LoadedArray:
    """Stands for numpy's ``_reconstruct``: an empty array to BUILD into."""
    if subtype is not LoadedArray or shape != (0,) or typecode != b'b':
        raise _refuse(f'_reconstruct{(subtype, shape, typecode)!r:.200} is '
                      'not how numpy pickles an array')
    return np.ndarray.__new__(LoadedArray, (0,), 'b')


def _scalar(dtype: Any, data: Any = None) -> Any:
    """Stands for numpy's ``scalar``: a numpy scalar of a plain numeric
    dtype from exactly its bytes."""
    if not isinstance(dtype, LoadedDtype) or not isinstance(data, bytes) or \
            len(data) != dtype.dtype.itemsize:
        raise _refuse(f'scalar{(dtype, data)!r:.200} is not a plain numeric '
                      'numpy scalar')
    return np.frombuffer(data, dtype.dtype)[0]


def _plain_array(value: Any) -> Any:
    return value.view(np.ndarray) if isinstance(value, LoadedArray) else value


def _numpy_types() -> List[Any]:
    """Stand-ins for numpy's pickled names, under numpy 1's and numpy 2's
    module paths (a checkpoint written with either loads with either)."""
    entries = [(LoadedDtype, 'numpy.dtype'), (LoadedArray, 'numpy.ndarray')]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries += [(_reconstruct, f'{module}._reconstruct'),
                    (_scalar, f'{module}.scalar')]
    return entries


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
        raise _refuse(
            f'getattr({getattr(owner, "__name__", owner)!r}, {name!r}) is '
            'not allowed in a checkpoint (only the statistics methods '
            f"{sorted(HISTORY_BUFFER_STATISTICS)} of mmengine's "
            'HistoryBuffer are)')
    return getattr(HistoryBuffer, name)


@functools.lru_cache(maxsize=None)
def _checked_history_buffer():
    """A stand-in for mmengine's ``HistoryBuffer`` in the unpickler: its
    state is checked before ``HistoryBuffer.__setstate__`` applies it (which
    updates the class-wide statistics table): its histories are two plain
    numeric 1-D arrays of one length, its statistics their own methods, and
    the object becomes a plain ``HistoryBuffer``."""
    from mmengine.logging.history_buffer import HistoryBuffer

    class CheckedHistoryBuffer(HistoryBuffer):

        def __setstate__(self, state: Any) -> None:
            if not isinstance(state, dict) or \
                    not set(state) <= _HISTORY_BUFFER_STATE:
                raise _refuse('a HistoryBuffer state has unexpected entries: '
                              f'{sorted(map(repr, state))[:8]}')
            methods = state.get('statistics_methods', {})
            if not isinstance(methods, dict) or any(
                    name not in HISTORY_BUFFER_STATISTICS
                    or method is not getattr(HistoryBuffer, name)
                    for name, method in methods.items()):
                raise _refuse('a HistoryBuffer state maps its statistics to '
                              'something other than their own methods '
                              f'{sorted(HISTORY_BUFFER_STATISTICS)}')
            state = dict(state)
            histories = [_plain_array(state.get(key, np.zeros(0)))
                         for key in ('_log_history', '_count_history')]
            length = state.get('max_length', 1000000)
            if any(type(h) is not np.ndarray or h.ndim != 1 for h in
                   histories) or len(histories[0]) != len(histories[1]) \
                    or type(length) is not int or length < 1:
                raise _refuse('a HistoryBuffer state is not two numeric '
                              'histories of one length and a positive '
                              'max_length')
            state['_log_history'], state['_count_history'] = histories
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


def check_checkpoint_file(filename: str) -> None:
    """Fail, naming the file, when a local checkpoint is missing, empty, or
    a zip archive (what ``torch.save`` writes) whose directory cannot be
    read, as when a copy or a save was cut short. Reads the file's end only.

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointFileError: it is empty or truncated.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint {filename} does not exist')
    size = osp.getsize(filename)
    if size == 0:
        raise CheckpointFileError(f'{filename} is not a readable checkpoint: '
                                  'it is empty (0 bytes)')
    with open(filename, 'rb') as f:
        zipped = f.read(4) == b'PK\x03\x04'
    if zipped:
        try:
            with zipfile.ZipFile(filename) as archive:
                archive.infolist()
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise CheckpointFileError(
                f'{filename} is not a readable checkpoint: it is truncated '
                f'or damaged ({size} bytes, its zip directory cannot be read: '
                f'{error}); copy or save it again'
            ) from None


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
    check_checkpoint_file(filename)
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


def read_checkpoint(filename: str, map_location: Any = 'cpu') -> Any:
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
