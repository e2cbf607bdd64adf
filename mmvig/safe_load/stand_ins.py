"""The checking stand-ins for numpy's and mmengine's pickled types: each
parses what a checkpoint hands it, by the one opcode numpy's or mmengine's
own pickles use, and builds its result itself (see :mod:`mmvig.safe_load`);
torch's allowlist admits them (:func:`safe_types`)."""
import contextlib
import contextvars
import functools
import os
import pickle
import sys
import weakref
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import torch

from ..seams import TORCH_UNPICKLER, allowlist_name, mmengine_loader_allowlist

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
               (LoadedDtype, f'{__package__}.LoadedDtype'),
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
