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
process-wide change mmvig makes, and what it admits is data.

The stand-ins parse, then build: they collect plain values (ints, a
byte-order character, a dtype code, ``bytes``) and mmvig builds each result
itself, from a fixed table of dtypes (:data:`PLAIN_DTYPES`: bool, int/uint
8-64, float 16-64, complex 64/128, either byte order); no numpy constructor
or ``__setstate__`` sees a checkpoint's own objects. Each stand-in has one
way in, the opcodes numpy's and mmengine's own pickles use, called by
torch's unpickler itself (a call through another allowlisted function is
refused):

- ``numpy.dtype``: REDUCE ``dtype(code, False, copy)`` and one BUILD that
  sets the byte order (:class:`LoadedDtype`);
- arrays: REDUCE ``_reconstruct(ndarray, (0,), b'b')`` and one BUILD with
  exactly ``prod(shape) * itemsize`` bytes of a built dtype, copied into a
  fresh, owned, C-contiguous :class:`LoadedArray` (an ndarray subclass
  that pickles back as a plain ndarray); ``numpy.ndarray`` itself cannot be
  called; a load builds no more numpy data than its pickle holds;
- scalars: REDUCE ``scalar(dtype, bytes)`` of exactly ``itemsize`` bytes;
  ``bytes()``: the empty bytes protocol 2 writes for an empty array;
- mmengine's ``HistoryBuffer``: NEWOBJ without arguments and one BUILD,
  whose state is checked before it is applied: two built numeric 1-D
  histories of one length (copied), a positive ``max_length``, and
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
import sys
import weakref
import zipfile
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
import torch._weights_only_unpickler
from mmengine.config import Config

from .errors import InputError

TRUST_SWITCH = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'
# Starts the unpickler errors of mmvig's own checks (the allowlisted
# lookups and states), so that a refusal is told from an unreadable file.
_REFUSAL = 'refused: '

# Every stand-in is entered from the weights-only unpickler's own opcode loop
# (REDUCE, NEWOBJ or BUILD call it directly) and from nowhere else: a call
# through another allowlisted function (torch's ``_rebuild_from_type_v2``
# calls any callable and ``__setstate__``) is refused.
_UNPICKLER = torch._weights_only_unpickler.Unpickler
_LOAD_CODE = _UNPICKLER.load.__code__

# The plain numeric dtypes a checkpoint may hold, by numpy's pickled type
# string (kind and item size): bool, int/uint 8-64, float 16-64, complex
# 64/128. mmvig builds each from this table, never from the file's string.
PLAIN_DTYPES = {
    f'{kind}{size}': np.dtype(f'{kind}{size}')
    for kind, sizes in (('b', (1, )), ('i', (1, 2, 4, 8)), ('u', (1, 2, 4, 8)),
                        ('f', (2, 4, 8)), ('c', (8, 16)))
    for size in sizes
}
_BYTE_ORDERS = ('<', '>', '|', '=')
_DTYPE_STATE_TAIL = (None, None, None, -1, -1, 0)  # no sub-array, no fields
_MAX_DIMS = 32


class _ObjectSet:
    """A set of live objects by identity (arrays are unhashable); an entry
    leaves when its object is freed."""

    def __init__(self) -> None:
        self._refs: Dict[int, weakref.ref] = {}

    def add(self, obj: Any) -> None:
        key = id(obj)
        self._refs[key] = weakref.ref(obj, lambda _: self._refs.pop(key, None))

    def discard(self, obj: Any) -> None:
        self._refs.pop(id(obj), None)

    def __contains__(self, obj: Any) -> bool:
        ref = self._refs.get(id(obj))
        return ref is not None and ref() is obj


# Stand-ins created but not yet BUILT; an object leaves the set at its one
# BUILD. Kept outside the objects, where no checkpoint can set it.
_UNBUILT = _ObjectSet()
# Bytes of numpy data each running load has built (keyed by its unpickler).
_BUILT_BYTES: 'weakref.WeakKeyDictionary[Any, int]' = \
    weakref.WeakKeyDictionary()


def _refuse(what: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f'{_REFUSAL}{what}')


def _unpickler(what: str) -> Any:
    """The unpickler whose opcode loop called the stand-in (two frames up:
    the stand-in's own caller), or a refusal naming ``what``."""
    frame = sys._getframe(2)
    if frame.f_code is not _LOAD_CODE:
        raise _refuse(f'{what} reached through {frame.f_code.co_name}(); a '
                      "checkpoint reaches it only through the opcodes numpy's "
                      "and mmengine's own pickles use")
    return frame.f_locals.get('self')


def _stream_size(unpickler: Any) -> Optional[int]:
    source = getattr(unpickler.read, '__self__', None)
    if hasattr(source, 'getbuffer'):
        return source.getbuffer().nbytes
    try:
        return os.fstat(source.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


def _charge(unpickler: Any, nbytes: int) -> None:
    """Count ``nbytes`` of numpy data against the pickle stream: a file
    holds each array's bytes once, so a load that builds more than the
    stream's size reuses bytes (a memoised buffer under many arrays)."""
    used = _BUILT_BYTES.get(unpickler, 0) + nbytes
    limit = _stream_size(unpickler)
    if limit is not None and used > limit:
        raise _refuse(f'its numpy data ({used} bytes) exceed the '
                      f'{limit} bytes of the pickle that holds them')
    _BUILT_BYTES[unpickler] = used


class LoadedDtype:
    """A numpy dtype as mmvig's allowlist reads it: one of
    :data:`PLAIN_DTYPES` with a byte order. numpy pickles a dtype as
    ``dtype(code, align, copy)`` then one BUILD whose state is its byte order;
    the name ``numpy.dtype`` resolves to :func:`_dtype`, which makes this
    object, and its one BUILD sets the byte order (nothing else). The numpy
    dtype is :attr:`dtype`; it pickles back as that dtype.
    """
    __slots__ = ('dtype', '__weakref__')

    def __new__(cls, *args: Any, **kwargs: Any) -> 'LoadedDtype':
        raise _refuse(f'{cls.__name__} is not a constructor a checkpoint may '
                      'call')

    def __setstate__(self, state: Any) -> None:
        _unpickler(f'BUILD of {self!r}')
        if self not in _UNBUILT:
            raise _refuse(f'a second BUILD of {self!r}')
        if not (type(state) is tuple and len(state) == 8
                and type(state[0]) is int and state[0] == 3
                and type(state[1]) is str and state[1] in _BYTE_ORDERS
                and state[2:] == _DTYPE_STATE_TAIL):
            raise _refuse(f'a {self.dtype} dtype state sets more than its '
                          f'byte order: {_short(state)}')
        _UNBUILT.discard(self)
        if state[1] in '<>' and self.dtype.itemsize > 1:
            self.dtype = self.dtype.newbyteorder(state[1])

    def __reduce__(self) -> Any:
        return self.dtype.__reduce__()

    def __repr__(self) -> str:
        return f'LoadedDtype({self.dtype!r})'


def _short(value: Any) -> str:
    """``repr`` of a checkpoint value, cut short, never failing."""
    try:
        return f'{value!r:.200}'
    except Exception:  # noqa: BLE001 -- a repr that fails is named by type
        return f'<{type(value).__name__}>'


def _dtype(code: Any, align: Any = False, copy: Any = True) -> LoadedDtype:
    """Stands for ``numpy.dtype`` in a checkpoint (REDUCE only)."""
    _unpickler('numpy.dtype')
    if type(code) is not str or code not in PLAIN_DTYPES or \
            align is not False or type(copy) is not bool:
        raise _refuse(f'dtype({_short(code)}, {_short(align)}, '
                      f'{_short(copy)}) is not a plain numeric numpy dtype '
                      f'(one of {" ".join(PLAIN_DTYPES)})')
    loaded = object.__new__(LoadedDtype)
    loaded.dtype = PLAIN_DTYPES[code]
    _UNBUILT.add(loaded)
    return loaded


def _built_dtype(dtype: Any, what: str) -> np.dtype:
    if type(dtype) is not LoadedDtype or dtype in _UNBUILT:
        raise _refuse(f'{what} names {_short(dtype)}, not a plain numeric '
                      'numpy dtype rebuilt once')
    return dtype.dtype


class LoadedArray(np.ndarray):
    """A numpy array as mmvig's allowlist rebuilds it. numpy pickles an
    array as ``_reconstruct(ndarray, (0,), b'b')`` then one BUILD with
    ``(1, shape, dtype, fortran_order, data)``: :func:`_reconstruct` makes
    the empty object (an instance of this class, since the unpickler keeps
    the object it was handed) and its one BUILD checks the state and fills
    it with a fresh, owned, C-contiguous copy of exactly
    ``prod(shape) * itemsize`` bytes of a :data:`PLAIN_DTYPES` dtype. The
    class itself cannot be called or instantiated from a checkpoint. It
    pickles as a plain ``numpy.ndarray``; history buffers hold plain arrays.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> 'LoadedArray':
        raise _refuse(f'{cls.__name__} is not a constructor a checkpoint may '
                      'call (numpy pickles arrays through _reconstruct)')

    def __setstate__(self, state: Any) -> None:
        unpickler = _unpickler('BUILD of an array')
        if self not in _UNBUILT:
            raise _refuse('a second BUILD of an array (or a BUILD of one '
                          'mmvig did not make)')
        if not (type(state) is tuple and len(state) == 5
                and type(state[0]) is int and state[0] == 1
                and type(state[1]) is tuple and len(state[1]) <= _MAX_DIMS
                and all(type(n) is int and n >= 0 for n in state[1])
                and type(state[3]) is bool and type(state[4]) is bytes):
            raise _refuse(f'an array state is not (1, shape, dtype, fortran, '
                          f'bytes) of a plain numeric array: {_short(state)}')
        _, shape, dtype, fortran, data = state
        dtype = _built_dtype(dtype, 'an array state')
        size = 1
        for n in shape:
            size *= n
        if len(data) != size * dtype.itemsize:
            raise _refuse(f'an array of shape {shape} and dtype {dtype} '
                          f'holds {len(data)} bytes')
        _charge(unpickler, len(data))
        _UNBUILT.discard(self)
        if fortran and len(shape) > 1:
            data = np.frombuffer(data, dtype).reshape(shape[::-1]).T.tobytes()
        # numpy copies the bytes into memory the array owns (C order)
        np.ndarray.__setstate__(self, (1, shape, dtype, False, data))

    def __reduce_ex__(self, protocol: int) -> Any:
        return self.view(np.ndarray).__reduce_ex__(protocol)

    def __reduce__(self) -> Any:
        return self.view(np.ndarray).__reduce__()


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> LoadedArray:
    """Stands for numpy's ``_reconstruct`` (REDUCE only): the empty array
    that the following BUILD fills. Until then it holds no element, of a
    dtype (``longdouble``) that ``torch.from_numpy`` refuses, so no tensor
    aliases memory that BUILD replaces."""
    _unpickler('numpy _reconstruct')
    if subtype is not LoadedArray or type(shape) is not tuple or \
            shape != (0, ) or typecode != b'b':
        raise _refuse(f'_reconstruct({_short(subtype)}, {_short(shape)}, '
                      f'{_short(typecode)}) is not how numpy pickles an array')
    empty = np.ndarray.__new__(LoadedArray, (0, ), np.longdouble)
    _UNBUILT.add(empty)
    return empty


def _scalar(dtype: Any, data: Any = None) -> Any:
    """Stands for numpy's ``scalar`` (REDUCE only): a numpy scalar of a
    plain numeric dtype from exactly its bytes."""
    unpickler = _unpickler('numpy scalar')
    dtype = _built_dtype(dtype, 'a numpy scalar')
    if type(data) is not bytes or len(data) != dtype.itemsize:
        raise _refuse(f'scalar({dtype}, {_short(data)}) is not a plain '
                      'numeric numpy scalar')
    _charge(unpickler, len(data))
    return np.frombuffer(data, dtype)[0]


def _empty_bytes(*args: Any) -> bytes:
    """Stands for ``bytes`` (REDUCE only): pickle protocol 2 writes an empty
    ``bytes`` as ``bytes()`` (an empty array's data); nothing else."""
    _unpickler('bytes')
    if args:
        raise _refuse(f'bytes{_short(args)}: only bytes() (empty) is how '
                      'pickle writes bytes')
    return b''


def _plain_copy(value: Any) -> np.ndarray:
    """A history buffer's own copy of a loaded array (a plain ndarray)."""
    return np.array(value, copy=True, subok=False)


def _numpy_types() -> List[Any]:
    """Stand-ins for numpy's pickled names, under numpy 1's and numpy 2's
    module paths (a checkpoint written with either loads with either)."""
    entries = [(_dtype, 'numpy.dtype'), (LoadedArray, 'numpy.ndarray'),
               (LoadedDtype, f'{__name__}.LoadedDtype'),
               (_empty_bytes, 'builtins.bytes')]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries += [(_reconstruct, f'{module}._reconstruct'),
                    (_scalar, f'{module}.scalar')]
    return entries


# The statistics mmengine registers on HistoryBuffer itself: the only names
# a checkpoint may look up, fixed here (no checkpoint data can add one).
HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})
_HISTORY_BUFFER_STATE = frozenset(
    {'max_length', '_log_history', '_count_history', 'statistics_methods'})


def _history_buffer_statistic(owner: Any, name: Any) -> Any:
    """The one ``getattr`` a training checkpoint makes (REDUCE only):
    mmengine pickles each history buffer's statistics methods as
    ``getattr(HistoryBuffer, name)``. Only that lookup, of one of
    :data:`HISTORY_BUFFER_STATISTICS`, is allowed."""
    _unpickler('getattr')
    from mmengine.logging.history_buffer import HistoryBuffer

    # the unpickler hands the stand-in for the class name HistoryBuffer
    if owner is not _checked_history_buffer() or type(name) is not str or \
            name not in HISTORY_BUFFER_STATISTICS:
        raise _refuse(
            f'getattr({_short(getattr(owner, "__name__", owner))}, '
            f'{_short(name)}) is not allowed in a checkpoint (only the '
            f'statistics methods {sorted(HISTORY_BUFFER_STATISTICS)} of '
            "mmengine's HistoryBuffer are)")
    return getattr(HistoryBuffer, name)


class _NotCallable(type):
    """Metaclass of a stand-in that a checkpoint may NEWOBJ but not call."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise _refuse(f'{cls.__name__} called with {_short(args)}: mmengine '
                      'pickles it with NEWOBJ and one BUILD')


@functools.lru_cache(maxsize=None)
def _checked_history_buffer():
    """A stand-in for mmengine's ``HistoryBuffer`` in the unpickler: made by
    NEWOBJ with no arguments (as mmengine pickles it), then exactly one
    BUILD whose state is checked before ``HistoryBuffer.__setstate__``
    applies it (which updates the class-wide statistics table): its
    histories are two built plain numeric 1-D arrays of one length (copied),
    its statistics their own methods, and the object becomes a plain
    ``HistoryBuffer``."""
    from mmengine.logging.history_buffer import HistoryBuffer

    class CheckedHistoryBuffer(HistoryBuffer, metaclass=_NotCallable):

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            _unpickler('NEWOBJ of HistoryBuffer')
            if args or kwargs:
                raise _refuse(f'HistoryBuffer made with {_short(args)}: '
                              'mmengine pickles it with no arguments')
            buffer = object.__new__(cls)
            HistoryBuffer.__init__(buffer)
            _UNBUILT.add(buffer)
            return buffer

        def __setstate__(self, state: Any) -> None:
            _unpickler('BUILD of a HistoryBuffer')
            if self not in _UNBUILT:
                raise _refuse('a second BUILD of a HistoryBuffer')
            if type(state) is not dict or set(state) != _HISTORY_BUFFER_STATE:
                raise _refuse('a HistoryBuffer state is not exactly '
                              f'{sorted(_HISTORY_BUFFER_STATE)}: '
                              f'{_short(sorted(map(_short, state))[:8])}')
            methods = state['statistics_methods']
            if type(methods) is not dict or any(
                    name not in HISTORY_BUFFER_STATISTICS
                    or method is not getattr(HistoryBuffer, name)
                    for name, method in methods.items()):
                raise _refuse('a HistoryBuffer state maps its statistics to '
                              'something other than their own methods '
                              f'{sorted(HISTORY_BUFFER_STATISTICS)}')
            logs, counts = state['_log_history'], state['_count_history']
            length = state['max_length']
            if any(type(h) is not LoadedArray or h in _UNBUILT or h.ndim != 1
                   for h in (logs, counts)) or len(logs) != len(counts) or \
                    type(length) is not int or length < 1:
                raise _refuse('a HistoryBuffer state is not two numeric '
                              'histories of one length and a positive '
                              'max_length')
            _UNBUILT.discard(self)
            state = dict(
                max_length=length,
                statistics_methods=dict(methods),
                _log_history=_plain_copy(logs),
                _count_history=_plain_copy(counts))
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
    return os.environ.get(TRUST_SWITCH,
                          '0').lower() in ('1', 'y', 'yes', 'true')


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
                f'{error}); copy or save it again') from None


def check_resume_meta(checkpoint: Any, filename: str) -> None:
    """Refuse to resume from a checkpoint whose ``meta`` does not say where
    the run stopped as mmengine's runner writes it (``epoch`` and ``iter``
    non-negative integers; ``seed`` an integer, ``config`` its text, when
    present): the runner would take any value and fail later, far from it.

    Raises:
        InputError: a plain state dict (weights only), or a ``meta`` entry
            of the wrong kind, naming the file and the entry.
    """
    if not isinstance(checkpoint, dict) or 'meta' not in checkpoint:
        raise InputError(
            f'{filename} holds weights only (no meta, optimizer or '
            'schedule): --resume continues a run from the checkpoint '
            "mmengine's runner saved. To start from these weights, pass "
            f'--cfg-options load_from={filename} without --resume.')
    meta = checkpoint['meta']

    def wrong(entry: str, value: Any, want: str) -> InputError:
        return InputError(
            f'{filename} cannot be resumed: its {entry} is {_short(value)}, '
            f'where a training checkpoint records {want}. The file is '
            'damaged or was not saved by a training run; to start from its '
            f'weights, pass --cfg-options load_from={filename} without '
            '--resume.')

    if not isinstance(meta, dict):
        raise wrong('meta', meta, 'a dict')
    for key in ('epoch', 'iter'):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or \
                value < 0:
            raise wrong(f"meta['{key}']", value, 'a non-negative integer')
    if meta.get('seed') is not None and (isinstance(meta['seed'], bool)
                                         or not isinstance(meta['seed'], int)):
        raise wrong("meta['seed']", meta['seed'], 'an integer')
    if 'config' in meta and not isinstance(meta['config'], str):
        raise wrong("meta['config']", meta['config'], "the config's text")


def _pretrained_paths(node, key: str) -> Iterator[Tuple[str, str]]:
    if isinstance(node, dict):
        if node.get('type') == 'Pretrained' and node.get('checkpoint'):
            yield f'{key}.checkpoint', node['checkpoint']
        for k, v in node.items():
            yield from _pretrained_paths(v, f'{key}.{k}')
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _pretrained_paths(v, f'{key}[{i}]')


def check_checkpoints(cfg: Config) -> None:
    """Fail early when a local ``Pretrained`` checkpoint or ``load_from`` is
    missing, naming the config key (URLs are left to the loader).

    Raises:
        FileNotFoundError: a local checkpoint path does not exist.
    """
    paths = list(_pretrained_paths(cfg.get('model', {}), 'model'))
    if cfg.get('load_from'):
        paths.append(('load_from', cfg.load_from))
    for key, path in paths:
        if '://' not in path and not osp.isfile(osp.expanduser(path)):
            raise FileNotFoundError(
                f'Checkpoint not found: {key} points to {path!r}. Train the '
                'ImageNet classifier first (configs/attentionvig_*_in1k.py) '
                'or set the path in the config.')


def check_last_checkpoint(work_dir: str) -> None:
    """Fail, naming the file, when the ``last_checkpoint`` record an
    automatic ``--resume`` reads from ``work_dir`` is empty or names a
    checkpoint that does not exist (no record at all: the run starts anew,
    as mmengine does).

    Raises:
        InputError: the record is empty or dangling.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return
    with open(record) as f:
        path = f.read().strip()
    if not path:
        raise InputError(
            f'{record} is empty, so --resume has no checkpoint to continue '
            f'from: pass --resume PATH, or delete {record} to start anew.')
    if '://' not in path and not osp.isfile(path):
        raise InputError(
            f'{record} names {path}, which does not exist: pass --resume '
            f'PATH with a checkpoint of this run, or delete {record} to start '
            'anew.')


def load_checkpoint_file(filename: str, map_location: Any = 'cpu') -> Any:
    """``torch.load`` a local checkpoint safely, with errors that name it.

    Args:
        filename: Path of the checkpoint.
        map_location: As for ``torch.load``.

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: it needs types outside the allowlist.
        CheckpointFileError: it is not a checkpoint torch can read, or
            holds a tensor larger than its storage.
    """
    filename = osp.expanduser(filename)
    check_checkpoint_file(filename)
    try:
        checkpoint = torch.load(
            filename,
            map_location=map_location,
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
            f'{TRUST_SWITCH}=1 in the environment of this one run.') from None
    except Exception as error:  # noqa: BLE001 -- garbage fails any way
        raise unreadable_checkpoint(filename, error) from None
    check_tensor_storage(checkpoint, filename)
    return checkpoint


def unreadable_checkpoint(filename: str,
                          error: BaseException) -> CheckpointFileError:
    """The one-line error for a file torch's reader failed on, naming it
    and the reason in a few words (never an empty reason or a binding's
    signature list)."""
    text = str(error)
    if 'negative number' in text or 'get_storage_from_record' in text:
        reason = 'a storage in it declares an impossible size'
    elif isinstance(error, MemoryError) or "can't allocate memory" in text \
            or 'alloc_cpu' in text:
        asked = re.search(r'allocate (\d+) bytes', text)
        reason = 'it declares more data than this machine can hold' + (
            f' ({int(asked.group(1)):,} bytes)' if asked else '')
    elif 'PytorchStreamReader' in text:
        reason = (f'a record in it is damaged ({text.split(". ")[0]}); copy '
                  'or save it again')
    else:
        first = ' '.join(text.strip().splitlines()[0].split()) if \
            text.strip() else ''
        reason = f'{type(error).__name__}: {first[:200]}' if first else \
            type(error).__name__
        reason = f'({reason})'
        return CheckpointFileError(
            f'{filename} is not a readable checkpoint {reason}')
    return CheckpointFileError(
        f'{filename} is not a readable checkpoint: {reason}')


def raised_by_torch_reader(error: BaseException) -> bool:
    """Whether ``error`` was raised while ``torch.load`` read a file (and
    not, say, by a hook that runs after a checkpoint is loaded)."""
    reader = osp.join('torch', 'serialization.py')
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(reader):
            return True
        tb = tb.tb_next
    return False


def oversized_tensor(tensor: torch.Tensor) -> Optional[int]:
    """The elements a strided tensor's storage holds, when the tensor has
    more (strides that repeat them, as ``expand`` makes: 4 stored bytes can
    stand for 2e9 elements, which any whole-tensor operation then
    allocates); ``None`` for every other tensor."""
    if tensor.layout != torch.strided or tensor.numel() == 0 or \
            tensor.device.type == 'meta':
        return None
    stored = tensor.untyped_storage().nbytes() // tensor.element_size()
    return stored if tensor.numel() > stored else None


def check_tensor_storage(checkpoint: Any, filename: str) -> None:
    """Refuse a loaded checkpoint holding a tensor with more elements than
    its storage (see :func:`oversized_tensor`); a saved model holds none.

    Raises:
        CheckpointFileError: naming the file, the key and the sizes.
    """
    stack, seen = [('', checkpoint)], set()
    while stack:
        key, value = stack.pop()
        if id(value) in seen:  # a pickle's memo can make cycles
            continue
        seen.add(id(value))
        if isinstance(value, torch.Tensor):
            stored = oversized_tensor(value)
            if stored is not None:
                raise CheckpointFileError(
                    f'Refused to load {filename}: its tensor {key or "(top)"}'
                    f' has {value.numel():,} elements over a storage of '
                    f'{stored:,} (strides that repeat them); a saved model '
                    'holds no such tensor, and reading it would allocate '
                    f'{value.numel() * value.element_size():,} bytes.')
        elif isinstance(value, dict):
            stack += [(f'{key}.{k}' if key else str(k), v)
                      for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            stack += [(f'{key}[{i}]', v) for i, v in enumerate(value)]


def read_checkpoint(filename: str, map_location: Any = 'cpu') -> Any:
    """:func:`load_checkpoint_file` for local paths; URLs (``http://``,
    ``s3://``...) through mmengine's loaders, which use the same safe
    ``torch.load``, with errors that name the address."""
    if '://' not in filename:
        return load_checkpoint_file(filename, map_location)
    from mmengine.runner.checkpoint import CheckpointLoader
    try:
        return CheckpointLoader.load_checkpoint(
            filename, map_location=map_location)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f'Refused to load {filename}: {error}. If you trust this file, '
            f'allow it with {TRUST_SWITCH}=1 in the environment of this one '
            'run.') from None
