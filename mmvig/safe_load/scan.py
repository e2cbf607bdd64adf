"""The pickle scan of mmvig's loader: every call a checkpoint's pickle
makes, checked before torch's unpickler builds anything."""
import pickle
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from typing import Any, Dict, List

from ..seams import torch_allowed_globals
from .stand_ins import _refuse, _short

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
