"""Safe checkpoint loading.

A checkpoint is untrusted input: a pickle can run any code while it loads.
mmvig loads every checkpoint with ``torch.load(weights_only=True)``, which
rebuilds tensors, containers and an allowlist of types, and refuses anything
else. The training checkpoints of mmengine, mmpretrain, mmdet and mmseg hold
a few Python objects besides tensors (the message hub's history buffers,
numpy scalars, dtypes and arrays); :func:`safe_types` lists a checking
stand-in for each. mmvig's loaders admit them for their own loads; on the
upstream stack :func:`allow_training_checkpoint_types` also adds them to
torch's allowlist (on ``import mmvig``), so that mmengine's own loader
(``resume``, ``load_from``, ``Pretrained`` init, the task libraries'
``train.py`` / ``test.py``) reads these checkpoints too. That is the only
process-wide change mmvig makes, and what it admits is data. onedl-mmengine
admits numpy's and mmengine's own types for each of its loads, under the
same names; there mmvig adds nothing (a name entered twice resolves to
either entry, by chance).

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

mmvig's own loader, :func:`read_checkpoint`, reads every source (local
files, URLs, mmengine's schemes and storage backends) by one path,
:func:`load_checkpoint_file`, and checks more than torch does, before
anything is unpickled: the zip layout (:func:`check_checkpoint_file`:
records stored uncompressed, each name once, none overlapping; no format
older than zip) and the pickle's calls (:func:`_scan_pickle`: a subset of
torch's allowlist, with the arguments a training checkpoint gives them);
while torch unpickles, the numpy data are charged against the file's size;
after, every stand-in must have been built and no tensor may outgrow its
storage (:func:`check_tensor_storage`). :func:`checked_checkpoint_loaders`
puts that loader under every scheme of mmengine's ``CheckpointLoader`` for
a block (``mmvig.engine.MMVigRunner`` does, for its runs), and
:func:`check_resume_meta` checks a resume's ``meta`` before mmengine reads
it.
"""
import contextlib
import contextvars
import functools
import os
import os.path as osp
import pickle
import re
import sys
import weakref
import zipfile
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config

from .errors import CheckpointFileError, InputError, UnsafeCheckpointError
from .seams import (TORCH_UNPICKLER, allowlist_name, checkpoint_schemes,
                    mmengine_loader_allowlist, torch_allowed_globals)

TRUST_SWITCH = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'
# torch's switch that makes every torch.load weights-only, even one that asks
# for weights_only=False (see :func:`weights_only_everywhere`).
FORCE_SWITCH = 'TORCH_FORCE_WEIGHTS_ONLY_LOAD'
# Starts the unpickler errors of mmvig's own checks (the allowlisted
# lookups and states), so that a refusal is told from an unreadable file.
_REFUSAL = 'refused: '

# Every stand-in is entered from the weights-only unpickler's own opcode loop
# (REDUCE, NEWOBJ or BUILD call it directly) and from nowhere else: a call
# through another allowlisted function (torch's ``_rebuild_from_type_v2``
# calls any callable and ``__setstate__``) is refused.
_LOAD_CODE = TORCH_UNPICKLER.load.__code__

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


class _LoadState:
    """One load by :func:`load_checkpoint_file`: the numpy data it may build
    (at most the file's size on disk: a file holds each array's bytes once)
    and the stand-ins it made, each of which must be built by its end."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.built = 0
        self.made: List[Any] = []


_LOAD: 'contextvars.ContextVar[Optional[_LoadState]]' = \
    contextvars.ContextVar('mmvig_checkpoint_load', default=None)


def _made(obj: Any) -> None:
    """Record a stand-in that its one BUILD has still to fill."""
    _UNBUILT.add(obj)
    state = _LOAD.get()
    if state is not None:
        state.made.append(obj)


def _charge(unpickler: Any, nbytes: int) -> None:
    """Count ``nbytes`` of numpy data against what the file holds: its size
    on disk in mmvig's loader, else the pickle stream's. A load that builds
    more reuses bytes (a memoised buffer under many arrays)."""
    state = _LOAD.get()
    if state is not None:
        used, limit, what = state.built + nbytes, state.budget, 'file'
    else:
        used = _BUILT_BYTES.get(unpickler, 0) + nbytes
        limit, what = _stream_size(unpickler), 'pickle'
    if limit is not None and used > limit:
        raise _refuse(f'its numpy data ({used} bytes) exceed the '
                      f'{limit} bytes of the {what} that holds them')
    if state is not None:
        state.built = used
    else:
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


def _short(value: Any, limit: int = 200) -> str:
    """``repr`` of a checkpoint value, at most ``limit`` characters, built
    within that bound (a nested or long value is never written out whole
    first) and never failing."""
    parts: List[str] = []
    room = [limit + 1]

    def put(text: str) -> bool:
        parts.append(text[:room[0]])
        room[0] -= len(parts[-1])
        return room[0] > 0

    def walk(x: Any, depth: int) -> bool:
        if isinstance(x, (str, bytes)):
            return put(repr(x[:room[0]]))
        if isinstance(x, int) and not isinstance(x, bool):
            return put(
                repr(x) if x.bit_length() <
                256 else f'<int of {x.bit_length()} bits>')
        if x is None or isinstance(
                x, (bool, float, complex, torch.dtype, torch.device)):
            return put(repr(x))
        if isinstance(x, torch.Tensor):
            return put(f'<tensor {tuple(x.shape)} {x.dtype}>')
        if isinstance(x, np.ndarray):
            return put(f'<array {x.shape} {x.dtype}>')
        if isinstance(x, LoadedDtype):
            return put(f'LoadedDtype({x.dtype})')
        if isinstance(x, (tuple, list, set, frozenset, dict)):
            if depth >= 4:
                return put('...')
            opening, closing = {
                tuple: '()',
                list: '[]',
                dict: '{}'
            }.get(type(x), f'{type(x).__name__}(' + ')')
            if not put(opening):
                return False
            items = x.items() if isinstance(x, dict) else x
            for i, item in enumerate(items):
                if i and not put(', '):
                    return False
                if isinstance(x, dict):
                    if not (walk(item[0], depth + 1) and put(': ')
                            and walk(item[1], depth + 1)):
                        return False
                elif not walk(item, depth + 1):
                    return False
            return put(closing)
        return put(f'<{type(x).__name__}>')

    try:
        walk(value, 0)
    except Exception:  # noqa: BLE001 -- a value that fails is named by type
        return f'<{type(value).__name__}>'
    text = ''.join(parts)
    return text if len(text) <= limit else text[:limit - 3] + '...'


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
    _made(loaded)
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
                and all(type(n) is int and 0 <= n < 2**40 for n in state[1])
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
        # numpy's own BUILD would keep a pointer into ``data`` (a bytes the
        # pickle may share between arrays): the array gets memory of its
        # own instead, C-ordered, and a copy of the values
        np.ndarray.__setstate__(self, (1, (0, ), dtype, False, b''))
        self.resize(shape, refcheck=False)
        values = np.frombuffer(data, dtype)
        self[...] = values.reshape(shape[::-1]).T if fortran else \
            values.reshape(shape)

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
    _made(empty)
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
            _made(buffer)
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


def allow_training_checkpoint_types() -> bool:
    """Add :func:`safe_types` to torch's ``weights_only`` allowlist, so that
    mmengine's own loader reads training checkpoints through the stand-ins,
    unless that loader admits numpy's and mmengine's types itself.

    onedl-mmengine admits its own entries under the same names for each load
    (:func:`mmvig.seams.mmengine_loader_allowlist`); torch resolves a name
    entered twice to either entry, by chance, per process, and a load that
    mixes the two fails. There mmengine's loader keeps its own entries and
    mmvig's loaders admit the stand-ins for their own loads only.

    Returns:
        Whether the stand-ins were added.
    """
    theirs = set(mmengine_loader_allowlist())
    if theirs & {allowlist_name(entry) for entry in safe_types()}:
        return False
    torch.serialization.add_safe_globals(safe_types())
    return True


def stand_ins_in_torch_allowlist() -> bool:
    """Whether torch's allowlist holds :func:`safe_types` for every load
    (:func:`allow_training_checkpoint_types` added them), so that a plain
    ``torch.load(path, weights_only=True)`` reads a training checkpoint."""
    present = set(torch.serialization.get_safe_globals())
    return all(entry in present for entry in safe_types())


@contextlib.contextmanager
def _stand_ins_admitted() -> Iterator[None]:
    """Within the block torch's allowlist holds :func:`safe_types`: those
    of them not registered already are added, and removed after."""
    present = set(torch.serialization.get_safe_globals())
    missing = [entry for entry in safe_types() if entry not in present]
    with torch.serialization.safe_globals(missing):
        yield


# What a checkpoint's pickle may call (REDUCE) in mmvig's loader: the
# functions and types a training checkpoint needs, a subset of torch's
# allowlist and mmvig's stand-ins. Each call is checked before anything is
# built (:func:`_scan_pickle`); torch's other entries (legacy tensor
# constructors, which allocate what a file declares and leave it
# uninitialised; sparse, quantised, nested and device tensors) are refused.
_TENSOR_REBUILDS = frozenset(
    f'torch._utils.{name}'
    for name in ('_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_tensor_v3',
                 '_rebuild_parameter', '_rebuild_parameter_with_state',
                 '_rebuild_meta_tensor_no_storage'))
_TENSOR_TYPES = frozenset({'torch.Tensor', 'torch.nn.parameter.Parameter'})
_PLAIN_CALLS = _TENSOR_REBUILDS | {
    'collections.OrderedDict', 'collections.Counter', 'builtins.set',
    'builtins.complex', 'torch.Size', 'torch.device',
    'torch.serialization._get_layout', 'numpy.dtype', 'builtins.bytes',
    'builtins.getattr'
} | {
    f'{module}.{name}'
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray')
    for name in ('_reconstruct', 'scalar')
}
_HISTORY_BUFFER = 'mmengine.logging.history_buffer.HistoryBuffer'
# Objects a BUILD may set the state of: a state dict (its ``_metadata``) and
# the stand-ins, each once.
_BUILT_BY = frozenset({
    'collections.OrderedDict', 'collections.Counter', 'numpy.dtype',
    _HISTORY_BUFFER, 'numpy.core.multiarray._reconstruct',
    'numpy._core.multiarray._reconstruct'
})
_LATIN1 = frozenset({'latin1', 'latin-1'})
# Opcodes whose argument has a fixed size, as torch's unpickler reads them.
_FIXED_ARGS = {
    pickle.BININT: 4,
    pickle.BININT1: 1,
    pickle.BININT2: 2,
    pickle.BINFLOAT: 8,
    pickle.BINGET: 1,
    pickle.LONG_BINGET: 4,
    pickle.BINPUT: 1,
    pickle.LONG_BINPUT: 4,
}


class _UnknownGlobal(Exception):
    """A GLOBAL outside every allowlist: left to torch's own refusal, which
    names what could run code."""


def _scan_pickle(data: bytes, budget: int) -> None:
    """Check a checkpoint's pickle before torch's unpickler runs it: one
    pass over its opcodes with a stack of placeholders (names, strings'
    lengths, tuples of placeholders), linear in ``data`` and building
    nothing. Every call must be one :data:`_PLAIN_CALLS` makes with the
    arguments a training checkpoint gives it: ``_codecs.encode(str,
    'latin1')`` (how protocol 2 writes bytes) and ``bytearray`` of that,
    together at most ``budget`` bytes; ``_rebuild_from_type_v2`` of a tensor
    rebuild function and a tensor type; NEWOBJ of mmengine's history buffer
    only; BUILD of a state dict or a stand-in only. Opcodes torch's
    unpickler does not read are refused as it would refuse them.

    Raises:
        pickle.UnpicklingError: a refusal (starting with ``refused: ``).
        _UnknownGlobal: a GLOBAL no allowlist admits.
    """
    allowed, user = torch_allowed_globals()
    pos, end = 0, len(data)
    stack: List[Any] = []
    marks: List[List[Any]] = []
    memo: Dict[int, Any] = {}
    charged = 0
    written_out = 4 * end + 1024

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > end:
            raise pickle.UnpicklingError('the pickle ends in an opcode')
        pos += n
        return data[pos - n:pos]

    def line() -> str:
        nonlocal pos
        stop = data.find(b'\n', pos, min(end, pos + 1024))
        if stop < 0:
            raise pickle.UnpicklingError('a GLOBAL name is not a line')
        text = data[pos:stop].decode('utf-8', 'replace')
        pos = stop + 1
        return text

    def pop(n: int = 1) -> List[Any]:
        if len(stack) < n:
            raise pickle.UnpicklingError('the pickle pops an empty stack')
        items = stack[-n:]
        del stack[-n:]
        return items

    def name_of(token: Any) -> str:
        return token[1] if type(token) is tuple and token[0] in 'gro' \
            else ''

    def tuple_of(items: List[Any]) -> Any:
        """A tuple's placeholder, with how many elements it has written
        out (memoised tuples inside it counted each time they appear):
        torch's unpickler hashes a tuple key, and a repr walks a value,
        element by element."""
        size = 1 + sum(x[2] if x[0] == 't' else 1 for x in items)
        if size > written_out:
            raise _refuse(f'it holds a tuple of over {written_out} elements '
                          'written out (tuples that repeat one another: 2**n '
                          'leaves from n levels), which no saved object is')
        return ('t', items, size)

    def call(func: Any, args: Any) -> Any:
        nonlocal charged
        if type(func) is not tuple or func[0] != 'g':
            raise _refuse(f'it calls the result of {_short(name_of(func))}'
                          ' (a checkpoint calls named functions only)')
        name = func[1]
        items = args[1] if type(args) is tuple and args[0] == 't' else None
        if name == '_codecs.encode':
            if not (items and len(items) == 2 and items[0][0] == 's'
                    and items[1][0] == 's' and items[1][2] in _LATIN1):
                raise _refuse('it calls _codecs.encode other than on a string'
                              " with 'latin1' (how pickle writes bytes)")
            charged += items[0][1]
        elif name == 'builtins.bytearray':
            if items is None or len(items) > 1 or (
                    items and
                (items[0][0] != 'r' or items[0][1] != '_codecs.encode')):
                raise _refuse('it calls bytearray other than on bytes it '
                              'holds')
            charged += items[0][2] if items else 0
        elif name == 'torch._tensor._rebuild_from_type_v2':
            if not (items and len(items) == 4 and items[0][0] == 'g'
                    and items[0][1] in _TENSOR_REBUILDS
                    and name_of(items[1]) in _TENSOR_TYPES):
                first = name_of(items[0]) if items else ''
                raise _refuse(f'it calls _rebuild_from_type_v2 with '
                              f'{_short(first)} (a tensor is rebuilt by '
                              'torch._utils functions as a Tensor or '
                              'Parameter)')
        elif name not in _PLAIN_CALLS:
            raise _refuse(f'it calls {name}, which mmvig\'s loader does not '
                          'admit (a training checkpoint of a dense model '
                          'holds no such object)')
        if charged > budget:
            raise _refuse(f'its bytes objects ({charged} bytes) exceed the '
                          f'{budget} bytes of the file that holds them')
        size = items[0][2] if name == '_codecs.encode' else 0
        return ('r', name, size)

    while True:
        op = take(1)
        if op == pickle.GLOBAL:
            module, name = line(), line()
            if (module, name) in NAME_MAPPING:  # as torch reads Python 2's
                module, name = NAME_MAPPING[module, name]
            elif module in IMPORT_MAPPING:
                module = IMPORT_MAPPING[module]
            name = f'{module}.{name}'
            if name not in allowed and name not in user:
                raise _UnknownGlobal(name)
            stack.append(('g', name))
        elif op == pickle.REDUCE:
            func, args = pop(2)
            stack.append(call(func, args))
        elif op == pickle.NEWOBJ:
            cls, _ = pop(2)
            if name_of(cls) != _HISTORY_BUFFER or cls[0] != 'g':
                raise _refuse(f'it creates a {_short(name_of(cls))} with '
                              "NEWOBJ (only mmengine's HistoryBuffer is)")
            stack.append(('o', _HISTORY_BUFFER))
        elif op == pickle.BUILD:
            pop()
            if not stack or name_of(stack[-1]) not in _BUILT_BY or \
                    stack[-1][0] not in 'ro':
                raise _refuse('it sets the state of '
                              f'{_short(name_of(stack[-1]) if stack else "")}'
                              ' (only a state dict and numpy and mmengine '
                              'objects have one)')
        elif op in (pickle.APPEND, pickle.SETITEM):
            pop(1 if op == pickle.APPEND else 2)
        elif op in (pickle.APPENDS, pickle.SETITEMS):
            if not marks:
                raise pickle.UnpicklingError('no MARK')
            stack = marks.pop()
        elif op == pickle.MARK:
            marks.append(stack)
            stack = []
        elif op == pickle.TUPLE:
            if not marks:
                raise pickle.UnpicklingError('no MARK')
            items, stack = stack, marks.pop()
            stack.append(tuple_of(items))
        elif op in (pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3):
            n = 1 + (pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3).index(op)
            stack.append(tuple_of(pop(n)))
        elif op in (pickle.NONE, pickle.NEWFALSE, pickle.NEWTRUE,
                    pickle.EMPTY_TUPLE, pickle.EMPTY_LIST, pickle.EMPTY_DICT,
                    pickle.EMPTY_SET):
            stack.append(('t', [], 1) if op == pickle.EMPTY_TUPLE else ('v', ))
        elif op in (pickle.BINGET, pickle.LONG_BINGET):
            index = int.from_bytes(take(_FIXED_ARGS[op]), 'little')
            if index not in memo:
                raise pickle.UnpicklingError(f'memo {index} is empty')
            stack.append(memo[index])
        elif op in (pickle.BINPUT, pickle.LONG_BINPUT):
            if not stack:
                raise pickle.UnpicklingError('PUT of an empty stack')
            memo[int.from_bytes(take(_FIXED_ARGS[op]), 'little')] = stack[-1]
        elif op in _FIXED_ARGS:
            take(_FIXED_ARGS[op])
            stack.append(('v', ))
        elif op == pickle.BINUNICODE:
            n = int.from_bytes(take(4), 'little')
            text = take(n)
            stack.append(
                ('s', n, text.decode('utf-8', 'replace') if n <= 16 else None))
        elif op in (pickle.SHORT_BINSTRING, pickle.LONG1):
            take(take(1)[0])
            stack.append(('v', ))
        elif op == pickle.BINPERSID:
            pop()
            stack.append(('v', ))
        elif op == pickle.PROTO:
            take(1)
        elif op == pickle.STOP:
            return
        else:
            raise _refuse(f'its pickle uses opcode {op!r}, which torch\'s '
                          'safe unpickler does not read')


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
        if isinstance(error, _UnknownGlobal):
            return [str(error)]
        return re.findall(r'GLOBAL ([\w.]+)', str(error))


def check_checkpoint_file(filename: str) -> List[Tuple[str, int, int]]:
    """Fail, naming the file, when a local checkpoint is missing, empty, or
    not a zip archive laid out as ``torch.save`` writes one, before any of
    it is unpickled: every record stored uncompressed, each name once and
    named so in its own header, no two records overlapping, each within the
    file (so the records hold at most the file's size), and the directory
    where the end record says (so that Python's reader and torch's read the
    same records). Reads the zip directory and the records' headers only.

    Returns:
        list: ``(name, offset, size)`` of each pickle record (``data.pkl``).

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointFileError: it is empty, truncated, not a zip archive (a
            checkpoint older than torch 1.6, or no checkpoint at all), or
            laid out as ``torch.save`` never lays one out.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint {filename} does not exist')
    size = osp.getsize(filename)
    if size == 0:
        raise CheckpointFileError(f'{filename} is not a readable checkpoint: '
                                  'it is empty (0 bytes)')
    with open(filename, 'rb') as f:
        if f.read(4) != b'PK\x03\x04':
            raise CheckpointFileError(
                f'{filename} is not a readable checkpoint: it is not a zip '
                'archive, the format torch.save has written since torch 1.6 '
                '(an older format allocates what the file declares before '
                'reading it, so mmvig does not read one; re-save it with a '
                'current torch where you trust it)')
        try:
            with zipfile.ZipFile(f) as archive:
                infos = archive.infolist()
                shifted = archive.start_dir != _stated_directory(f, size)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
            raise CheckpointFileError(
                f'{filename} is not a readable checkpoint: it is truncated '
                f'or damaged ({size} bytes, its zip directory cannot be read: '
                f'{error}); copy or save it again') from None
        if shifted:  # Python reads such a file shifted, torch's reader not
            raise CheckpointFileError(
                f'Refused to load {filename}: its zip directory is not where '
                'its end record says (data before the archive); torch.save '
                'writes no such zip archive')
        return _record_layout(f, infos, filename, size)


def _stated_directory(f: Any, size: int) -> int:
    """Where a zip's end record (zip64's, for large files) says its
    directory starts. Python's ``zipfile`` shifts every offset by the bytes
    found before an archive; torch's reader does not, so the two would read
    different records unless that shift is 0."""
    f.seek(max(0, size - 65557))
    tail = f.read()
    at = tail.rfind(b'PK\x05\x06')
    offset = int.from_bytes(tail[at + 16:at + 20], 'little')
    locator = tail.rfind(b'PK\x06\x07', 0, max(at, 0))
    if offset == 0xFFFFFFFF and locator >= 0:
        f.seek(int.from_bytes(tail[locator + 8:locator + 16], 'little'))
        offset = int.from_bytes(f.read(56)[48:56], 'little')
    return offset


def _record_layout(f: Any, infos: List[zipfile.ZipInfo], filename: str,
                   size: int) -> List[Tuple[str, int, int]]:
    """Check the records of a zip checkpoint against the file (see
    :func:`check_checkpoint_file`); the pickle records' data spans."""

    def refuse(what: str) -> CheckpointFileError:
        return CheckpointFileError(
            f'Refused to load {filename}: {what}; torch.save writes no such '
            'zip archive (the file is crafted, or was re-packed by another '
            'tool)')

    names, spans, pickles = set(), [], []
    for info in infos:
        name = _short(info.filename, 80)
        if info.compress_type != zipfile.ZIP_STORED or \
                info.compress_size != info.file_size or info.flag_bits & 1:
            raise refuse(f'its record {name} is compressed or encrypted '
                         f'(method {info.compress_type}), so it could expand '
                         'far beyond the file')
        if info.filename in names:
            raise refuse(f'two records are named {name}')
        names.add(info.filename)
        f.seek(info.header_offset)
        header = f.read(30)
        if len(header) < 30 or header[:4] != b'PK\x03\x04':
            raise CheckpointFileError(
                f'{filename} is not a readable checkpoint: a record in it is '
                f'damaged ({name} has no header where the zip directory '
                'points); save or copy it again')
        length = int.from_bytes(header[26:28], 'little')
        if f.read(length) != info.orig_filename.encode(
                'utf-8' if info.flag_bits & 0x800 else 'cp437'):
            raise refuse(f'the record {name} is named otherwise in its '
                         'header')
        start = info.header_offset + 30 + length + int.from_bytes(
            header[28:30], 'little')
        spans.append((info.header_offset, start + info.file_size, name))
        if osp.basename(info.filename) == 'data.pkl':
            pickles.append((info.filename, start, info.file_size))
    spans.sort()
    for (_, end, name), (begin, _, other) in zip(spans, spans[1:]):
        if begin < end:
            raise refuse(f'its records {name} and {other} overlap')
    if spans and spans[-1][1] > size:
        raise refuse(f'its record {spans[-1][2]} ends past the file '
                     f'({spans[-1][1]} of {size} bytes)')
    return pickles


# The one use mmengine's resume makes of an old runner's ``meta['config']``
# text (mmcv 1's runner saved it; mmengine's saves ``meta['cfg']``): its
# ``gpu_ids``, read by executing the text. mmvig keeps only that line, read
# without executing anything.
_GPU_IDS = re.compile(
    r'^gpu_ids[ \t]*=[ \t]*(?:\[([0-9, ]*)\]|'
    r'range\([ \t]*([0-9]{1,6})[ \t]*,[ \t]*([0-9]{1,6})[ \t]*\))[ \t]*$',
    re.MULTILINE)


def _gpu_ids_only(config: str) -> Optional[str]:
    """``config`` reduced to its ``gpu_ids = [...]`` line (a list of ints
    or a ``range``, as mmcv wrote it), or None where it has none."""
    found = _GPU_IDS.search(config)
    if found is None:
        return None
    if found.group(1) is not None:
        ids = [int(i) for i in found.group(1).replace(',', ' ').split()]
    else:
        first = int(found.group(2))
        ids = list(range(first, min(int(found.group(3)), first + 65536)))
    return f'gpu_ids = {ids[:65536]!r}\n'


def check_resume_meta(checkpoint: Any, filename: str) -> None:
    """Refuse to resume from a checkpoint whose ``meta`` does not say where
    the run stopped as mmengine's runner writes it (``epoch`` and ``iter``
    non-negative integers; ``seed`` an integer, ``config`` text, when
    present; a ``message_hub`` dict): the runner would take any value and
    fail later, far from it. mmengine's resume executes ``meta['config']``
    as Python; this replaces it, in place, by its ``gpu_ids`` line alone
    (the one thing mmengine reads from it), or removes it.

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
    if 'config' in meta:
        if not isinstance(meta['config'], str):
            raise wrong("meta['config']", meta['config'], "the config's text")
        gpu_ids = _gpu_ids_only(meta['config'])
        if gpu_ids is None:
            del meta['config']
        else:
            meta['config'] = gpu_ids
    if not isinstance(checkpoint.get('message_hub'), dict):
        raise wrong("'message_hub'", checkpoint.get('message_hub'),
                    "the message hub's state (a dict)")


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


def load_checkpoint_file(filename: str,
                         map_location: Any = 'cpu',
                         source: Optional[str] = None) -> Any:
    """``torch.load`` a local checkpoint safely, with errors that name it.

    Before torch reads anything, the file's zip layout is checked
    (:func:`check_checkpoint_file`) and its pickle scanned
    (:func:`_scan_pickle`); while torch unpickles it, the numpy data built
    are charged against the file's size; after, every stand-in must have
    been built and no tensor may be larger than its storage
    (:func:`check_tensor_storage`).

    Args:
        filename: Path of the checkpoint.
        map_location: As for ``torch.load``.
        source: What the errors name (a URL the file was downloaded from);
            ``filename`` by default.

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: it needs types or calls outside the
            allowlist.
        CheckpointFileError: it is not a checkpoint torch can read, or is
            laid out or sized as no saved model is.
    """
    filename = osp.expanduser(filename)
    shown = source or filename
    try:
        pickles = check_checkpoint_file(filename)
    except CheckpointFileError as error:
        raise CheckpointFileError(str(error).replace(filename, shown)) \
            from None
    state = _LoadState(osp.getsize(filename))
    try:
        with _stand_ins_admitted():
            if not _trusted():
                with open(filename, 'rb') as f:
                    for _, offset, size in pickles:
                        f.seek(offset)
                        _scan_pickle(f.read(size), state.budget)
            token = _LOAD.set(state)
            try:
                checkpoint = torch.load(
                    filename,
                    map_location=map_location,
                    weights_only=None if _trusted() else True)
            finally:
                _LOAD.reset(token)
    except (_UnknownGlobal, pickle.UnpicklingError) as error:
        reason = unpickler_reason(error)
        if reason.startswith(_REFUSAL):
            raise UnsafeCheckpointError(
                f'Refused to load {shown}: {reason[len(_REFUSAL):]}. A '
                'training checkpoint holds nothing of the kind.') from None
        found = _unsafe_globals(filename, error)
        if not found:
            raise CheckpointFileError(
                f'{shown} is not a readable checkpoint (the unpickler '
                f'says: {reason})') from None
        raise UnsafeCheckpointError(
            f'Refused to load {shown}: it holds {", ".join(found)}, '
            'which a training checkpoint does not need and which could run '
            'code while loading. If you trust this file, allow it with '
            f'{TRUST_SWITCH}=1 in the environment of this one run.') from None
    except Exception as error:  # noqa: BLE001 -- garbage fails any way
        raise unreadable_checkpoint(shown, error) from None
    unbuilt = [obj for obj in state.made if obj in _UNBUILT]
    if unbuilt:
        raise UnsafeCheckpointError(
            f'Refused to load {shown}: it makes {len(unbuilt)} numpy or '
            f'mmengine object(s) (first a {_stand_in_name(unbuilt[0])}) and '
            'never sets their state, as no saved object is pickled. A '
            'training checkpoint holds nothing of the kind.')
    check_tensor_storage(checkpoint, shown)
    return checkpoint


def _stand_in_name(obj: Any) -> str:
    return {
        LoadedDtype: 'numpy dtype',
        LoadedArray: 'numpy array'
    }.get(type(obj), 'HistoryBuffer')


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


# How deep a checkpoint may nest containers (a training checkpoint: a few
# levels); deeper ones make Python's recursive copy and pickle fail.
MAX_NESTING = 64
_CONTAINERS = (dict, list, tuple, set, frozenset)


def check_tensor_storage(checkpoint: Any, filename: str) -> None:
    """Refuse a loaded checkpoint holding a tensor with more elements than
    its storage (see :func:`oversized_tensor`), or containers nested more
    than :data:`MAX_NESTING` deep; a saved model holds neither. One pass
    over the containers and tensors, each visited once; the key path of an
    entry is written only for the message of a refusal.

    Raises:
        CheckpointFileError: naming the file, the key and the sizes.
    """
    entries: List[Tuple[int, Any]] = [(-1, None)]  # (parent entry, key)

    def path(entry: int) -> str:
        keys = []
        while entry > 0:
            entry, key = entries[entry]
            keys.append(f'[{key}]' if type(key) is int else f'.{key[:40]}'
                        if type(key) is str else f'[{_short(key, 40)}]')
        return ''.join(reversed(keys)).lstrip('.') or '(top)'

    stack, seen = [(checkpoint, 0, 0)], {id(checkpoint)}
    while stack:
        value, entry, depth = stack.pop()
        if depth > MAX_NESTING:
            raise CheckpointFileError(
                f'Refused to load {filename}: it nests containers more than '
                f'{MAX_NESTING} levels deep (at {path(entry)[:120]}); '
                'a saved model holds no such structure.')
        if isinstance(value, torch.Tensor):
            stored = oversized_tensor(value)
            if stored is not None:
                raise CheckpointFileError(
                    f'Refused to load {filename}: its tensor {path(entry)} '
                    f'has {value.numel():,} elements over a storage of '
                    f'{stored:,} (strides that repeat them); a saved model '
                    'holds no such tensor, and reading it would allocate '
                    f'{value.numel() * value.element_size():,} bytes.')
            continue
        if not isinstance(value, _CONTAINERS):
            continue
        items = value.items() if isinstance(
            value, dict) else enumerate(value) if isinstance(
                value, (list, tuple)) else ((None, v) for v in value)
        for key, item in items:
            for part in (key, item):
                if id(part) in seen or not isinstance(
                        part, _CONTAINERS + (torch.Tensor, )):
                    continue
                seen.add(id(part))
                entries.append((entry, key))
                stack.append((part, len(entries) - 1, depth + 1))


# The schemes mmengine resolves to a download URL, and how.
_TORCHVISION = ('torchvision://', 'modelzoo://')
_OPENMMLAB = ('open-mmlab://', 'openmmlab://')


def _url_of(filename: str) -> str:
    """The URL (or, for some ``open-mmlab://`` names, the local path) that
    mmengine's loaders read for ``filename``."""
    from mmengine.runner import checkpoint as mmengine_checkpoint
    for prefixes, table in ((_TORCHVISION,
                             mmengine_checkpoint.get_torchvision_models),
                            (_OPENMMLAB,
                             mmengine_checkpoint.get_external_models)):
        prefix = next((p for p in prefixes if filename.startswith(p)), None)
        if prefix is None:
            continue
        name = filename[len(prefix):]
        if prefixes is _OPENMMLAB:
            name = mmengine_checkpoint.get_deprecated_model_names().get(
                name, name)
        urls = table()
        if name not in urls:
            raise InputError(f'{filename}: mmengine knows no model {name!r} '
                             f'under {prefix} (known: '
                             f'{_short(sorted(urls), 120)})')
        url = urls[name]
        if url.startswith(('http://', 'https://')):
            return url
        home = os.getenv(
            'MMENGINE_HOME',
            osp.join(os.getenv('XDG_CACHE_HOME', '~/.cache'), 'mmengine'))
        return osp.join(osp.expanduser(home), url)
    return filename


def _download(url: str) -> str:
    """The local copy of ``url`` in torch's hub cache (where mmengine's and
    torch's ``load_url`` keep it), downloaded once: by the first process of
    each node, the others waiting at a barrier."""
    from urllib.parse import urlparse

    from mmengine.dist import get_dist_info
    cached = osp.join(torch.hub.get_dir(), 'checkpoints',
                      osp.basename(urlparse(url).path))
    rank, world_size = get_dist_info()
    local_rank = int(os.environ.get('LOCAL_RANK', rank))
    for turn in (True, False):
        if (local_rank == 0) == turn and not osp.exists(cached):
            os.makedirs(osp.dirname(cached), exist_ok=True)
            try:
                torch.hub.download_url_to_file(url, cached, progress=False)
            except Exception as error:  # noqa: BLE001 -- the network's words
                raise InputError(
                    f'Could not download the checkpoint {url}: '
                    f'{" ".join(str(error).split())[:160]}') from None
        if world_size > 1 and turn:
            torch.distributed.barrier()
    return cached


def read_checkpoint(filename: str, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint from any source mmengine reads, by one path: a URL
    (``http(s)://``, ``torchvision://``, ``open-mmlab://``) is downloaded to
    torch's hub cache and a file on one of mmengine's storage backends
    (``s3://``...) copied locally; then the local file is read by
    :func:`load_checkpoint_file`, with its checks, and errors that name
    ``filename``.

    Raises:
        InputError: a scheme mmvig does not read (``pavi://``,
            ``mmcls://``: download the file and pass its path), or an
            unknown model name under a scheme; and as
            :func:`load_checkpoint_file`.
    """
    if '://' not in filename:
        return load_checkpoint_file(filename, map_location)
    target = _url_of(filename)
    if target.startswith(('http://', 'https://')):
        return load_checkpoint_file(
            _download(target), map_location, source=filename)
    if '://' not in target:
        return load_checkpoint_file(target, map_location, source=filename)
    if target.startswith(('pavi://', 'mmcls://')):
        raise InputError(
            f'{filename}: mmvig reads local files, http(s)://, '
            'torchvision://, open-mmlab:// and mmengine storage backends '
            '(s3://, petrel://...); download this checkpoint and pass its '
            'path.')
    from mmengine.fileio import get_local_path
    with get_local_path(target) as local:
        return load_checkpoint_file(local, map_location, source=filename)


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


# Set while a runner resumes (see :func:`resuming`).
_RESUMING: 'contextvars.ContextVar[bool]' = contextvars.ContextVar(
    'mmvig_resuming', default=False)


@contextlib.contextmanager
def resuming() -> Iterator[None]:
    """Within the block, a checkpoint read through mmengine's loaders is a
    resume's: :func:`check_resume_meta` checks and rewrites its ``meta``
    before mmengine's ``Runner.resume`` reads it."""
    token = _RESUMING.set(True)
    try:
        yield
    finally:
        _RESUMING.reset(token)


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
