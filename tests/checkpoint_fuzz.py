"""Crafted checkpoints, and a structure-aware fuzzer for checkpoint loading.

Two ways to write a crafted pickle, for every test that needs one: an
object that ``torch.save`` pickles as a given ``__reduce__`` tuple
(:class:`Reduce`, :func:`numpy_array`, :func:`numpy_dtype`), and, below
what any object can express, opcode by opcode (:class:`Assembler`, with
:func:`torch_archive` around it).

Writes torch checkpoints whose pickle is assembled opcode by opcode from the
globals mmvig adds to torch's allowlist (numpy's dtype, ndarray,
_reconstruct and scalar under both module paths, mmengine's HistoryBuffer,
getattr) and the torch functions that can reach them
(``_rebuild_from_type_v2``, ``_rebuild_device_tensor_from_numpy``), with
every opcode that can touch them (REDUCE, NEWOBJ, BUILD, memo PUT/GET,
nesting) and shapes, dtypes, byte orders and lengths drawn at random. Each
case is loaded, in a child process, through ``torch.load(weights_only=True)``,
mmengine's ``_load_checkpoint`` and ``mmvig.safe_load.read_checkpoint``; a
finding is a crash (negative return code), a loaded array that is not plain
numeric, owned and C-contiguous, numpy data beyond the file's size, or an
attempt at a large allocation.

    python tests/checkpoint_fuzz.py --cases 300 --seed 0
    python tests/checkpoint_fuzz.py --minutes 30      # a release run
"""
import argparse
import io
import json
import os
import os.path as osp
import pickle
import random
import struct
import sys
import tempfile
import time
import zlib
from typing import Dict, List, Optional, Tuple

GLOBALS = {
    'dtype': ('numpy', 'dtype'),
    'ndarray': ('numpy', 'ndarray'),
    'reconstruct1': ('numpy.core.multiarray', '_reconstruct'),
    'reconstruct2': ('numpy._core.multiarray', '_reconstruct'),
    'scalar1': ('numpy.core.multiarray', 'scalar'),
    'scalar2': ('numpy._core.multiarray', 'scalar'),
    'loaded_dtype': ('mmvig.safe_load', 'LoadedDtype'),
    'history': ('mmengine.logging.history_buffer', 'HistoryBuffer'),
    'getattr': ('builtins', 'getattr'),
    'from_type': ('torch._tensor', '_rebuild_from_type_v2'),
    'from_numpy': ('torch._utils', '_rebuild_device_tensor_from_numpy'),
    'float32': ('torch', 'float32'),
    'ordered': ('collections', 'OrderedDict'),
}
CODES = [
    'b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8',
    'c8', 'c16'
]
BAD_CODES = [
    'O8', 'O', 'V16', 'V8', '(2,)f8', 'M8[s]', 'm8', 'U4', 'S4', 'f16', 'c32',
    'i16', 'x', '', 'f8,i4', '<f8', 'a' * 300
]


class Reduce:
    """Pickles as ``reduce`` (a ``__reduce__`` tuple), whatever it holds."""

    def __init__(self, *reduce) -> None:
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


def numpy_multiarray():
    """numpy's ``multiarray`` module, under this numpy's path."""
    import numpy as np
    if int(np.__version__.split('.')[0]) >= 2:
        from numpy._core import multiarray
    else:
        from numpy.core import multiarray
    return multiarray


def numpy_array(dtype, shape, data):
    """Pickles as numpy pickles an array: ``_reconstruct`` then one BUILD
    with ``(1, shape, dtype, False, data)``, whatever they hold."""
    import numpy as np
    return Reduce(numpy_multiarray()._reconstruct, (np.ndarray, (0, ), b'b'),
                  (1, shape, dtype, False, data))


def numpy_dtype(code, state=(3, '<', None, None, None, -1, -1, 0)):
    """Pickles as numpy pickles a dtype: ``dtype(code, False, True)`` then
    one BUILD with ``state``."""
    import numpy as np
    return Reduce(np.dtype, (code, False, True), state)


class Assembler:
    """Pickle protocol 2 opcodes as torch's weights-only unpickler reads
    them; remembers what each memo slot holds (by kind)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.out = io.BytesIO()
        self.out.write(b'\x80\x02')
        self.memo: List[str] = []

    def op(self, data: bytes) -> None:
        self.out.write(data)

    def glob(self, key: str) -> None:
        module, name = GLOBALS[key]
        self.op(b'c' + f'{module}\n{name}\n'.encode())

    def int(self, n: int) -> None:
        if 0 <= n < 256:
            self.op(b'K' + bytes([n]))
        elif 0 <= n < 65536:
            self.op(b'M' + struct.pack('<H', n))
        elif -2**31 <= n < 2**31:
            self.op(b'J' + struct.pack('<i', n))
        else:
            size = (n.bit_length() + 8) // 8
            self.op(b'\x8a' + bytes([size]) +
                    n.to_bytes(size, 'little', signed=True))

    def str(self, text: str) -> None:
        data = text.encode('utf-8', 'surrogatepass')
        self.op(b'X' + struct.pack('<I', len(data)) + data)

    def bytes(self, data: bytes) -> None:
        self.op(b'c_codecs\nencode\n')
        self.str(data.decode('latin1'))
        self.str('latin1')
        self.op(b'\x86R')  # TUPLE2 REDUCE

    def const(self, value) -> None:
        if value is None:
            self.op(b'N')
        elif value is True:
            self.op(b'\x88')
        elif value is False:
            self.op(b'\x89')
        elif isinstance(value, int):
            self.int(value)
        elif isinstance(value, str):
            self.str(value)
        elif isinstance(value, bytes):
            self.bytes(value)
        elif isinstance(value, tuple):
            self.op(b'(')
            for item in value:
                self.const(item)
            self.op(b't')
        else:
            raise TypeError(value)

    def put(self, kind: str) -> None:
        index = len(self.memo)
        self.op(b'q' + bytes([index]) if index < 256 else b'r' +
                struct.pack('<I', index))
        self.memo.append(kind)

    def get(self, kind: Optional[str] = None) -> bool:
        """GET a memo slot of ``kind`` (any kind when None); False when
        there is none."""
        slots = [i for i, k in enumerate(self.memo) if kind in (None, k)]
        if not slots:
            return False
        index = self.rng.choice(slots)
        self.op(b'h' + bytes([index]) if index < 256 else b'j' +
                struct.pack('<I', index))
        return True

    def get_index(self, index: int) -> None:
        self.op(b'h' + bytes([index]) if index < 256 else b'j' +
                struct.pack('<I', index))

    def getvalue(self) -> bytes:
        return self.out.getvalue() + b'.'


def plain_dtype(a: Assembler,
                code: str = 'f8',
                order: str = '<',
                built: bool = True) -> None:
    """numpy's pickle of a dtype: REDUCE ``dtype(code, False, True)``, then
    (``built``) the BUILD that sets its byte order."""
    a.glob('dtype')
    a.const((code, False, True))
    a.op(b'R')
    if built:
        a.const((3, order, None, None, None, -1, -1, 0))
        a.op(b'b')


def placeholder(a: Assembler) -> None:
    """numpy's pickle of an array up to its BUILD:
    ``_reconstruct(ndarray, (0,), b'b')``."""
    a.glob('reconstruct1')
    a.op(b'(')
    a.glob('ndarray')
    a.const((0, ))
    a.const(b'b')
    a.op(b'tR')


def array_state(a: Assembler, shape=(2, ), data=b'\x00' * 16, **dtype) -> None:
    """An array's BUILD state ``(1, shape, dtype, False, data)``; ``data``
    None: the bytes memoised last (``Assembler.get('bytes')``)."""
    a.op(b'(')
    a.const(1)
    a.const(shape)
    plain_dtype(a, **dtype)
    a.const(False)
    if data is None:
        a.get('bytes')
    else:
        a.const(data)
    a.op(b't')


class Generator:
    """Random values built from the allowlisted globals."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        # whether the current case holds what only mmvig's loader refuses
        self.holes = False

    # leaves ------------------------------------------------------------
    def code(self) -> str:
        return self.rng.choice(CODES) if self.rng.random() < 0.8 else \
            self.rng.choice(BAD_CODES)

    def order(self) -> str:
        return self.rng.choice(['<', '>', '|', '=', '<', '>', 'x', '<<'])

    def shape(self) -> tuple:
        r = self.rng.random()
        if r < 0.6:
            return tuple(
                self.rng.randint(0, 4) for _ in range(self.rng.randint(0, 3)))
        if r < 0.8:
            return (self.rng.choice([2**31, 2**33, 2**40, 2**62, 10**6]), )
        if r < 0.9:
            return tuple(
                self.rng.randint(0, 3)
                for _ in range(self.rng.choice([33, 40, 64])))
        return (self.rng.choice([-1, -2**40]), 2)

    # composite values ------------------------------------------------
    def dtype(self, a: Assembler, built: bool = True) -> None:
        if self.rng.random() < 0.15 and a.get('dtype'):
            return
        if self.rng.random() < 0.05:
            a.glob('loaded_dtype')  # the stand-in's own name
        else:
            a.glob('dtype')
        args = (self.code(), self.rng.random() < 0.05, self.rng.random() < 0.9)
        if self.rng.random() < 0.1:
            a.const(args[:self.rng.randint(0, 3)])
            a.op(b'\x81' if self.rng.random() < 0.5 else b'R')
        else:
            a.const(args)
            a.op(b'R')
        if self.rng.random() < 0.3:
            a.put('dtype')
        if built and self.rng.random() < 0.93:
            for _ in range(2 if self.rng.random() < 0.08 else 1):
                self.dtype_state(a)
                a.op(b'b')

    def dtype_state(self, a: Assembler) -> None:
        r = self.rng.random()
        if r < 0.8:
            a.const((3, self.order(), None, None, None, -1, -1, 0))
        elif r < 0.9:  # a sub-array over another dtype (objects too)
            a.op(b'(')
            a.const(3)
            a.const('<')
            a.op(b'(')
            self.dtype(a)
            a.const((self.rng.randint(1, 8), ))
            a.op(b't')
            a.const((None, None, 48, 8, 0))
            a.op(b'\x86')  # TUPLE2 -> nested, not the 8-tuple numpy wants
            a.op(b't')
        else:
            a.const(
                (self.rng.choice([3, 2,
                                  4]), '|', None, ('a', 'b'), None, 16, 1, 27))

    def data(self, shape: tuple, itemsize: int) -> bytes:
        size = 1
        for n in shape:
            size *= max(n, 0)
        exact = size * itemsize
        r = self.rng.random()
        if r < 0.7 and exact <= 4096:
            return bytes(self.rng.getrandbits(8) for _ in range(exact))
        if r < 0.85:
            return b'A' * self.rng.randint(0, 64)
        return b'B' * (exact + self.rng.choice([-1, 1, 8])) \
            if 0 < exact <= 4096 else b''

    def array(self, a: Assembler) -> None:
        r = self.rng.random()
        if r < 0.1 and a.get('array'):
            return
        if r < 0.2:  # ndarray called directly, as ndarray(shape, dtype, ...)
            a.glob('ndarray')
            a.op(b'(')
            a.const(self.shape())
            self.dtype(a)
            if self.rng.random() < 0.5:
                if not a.get('bytes'):
                    a.const(b'C' * 16)
            a.op(b't')
            a.op(b'\x81' if self.rng.random() < 0.5 else b'R')
            return
        if r < 0.3:  # indirection through torch's _rebuild_from_type_v2
            a.glob('from_type')
            a.op(b'(')
            a.glob(
                self.rng.choice([
                    'reconstruct1', 'reconstruct2', 'ndarray', 'dtype',
                    'scalar1'
                ]))
            a.glob(self.rng.choice(['ndarray', 'loaded_dtype']))
            a.op(b'(')
            a.glob('ndarray')
            a.const(((0, ), b'b'))
            a.op(b'\x86')  # (ndarray, ((0,), b'b')): nested on purpose
            if self.rng.random() < 0.7:
                a.out.seek(a.out.tell() - 1)
                a.out.truncate()
                a.op(b'(')
                a.glob('ndarray')
                a.const((0, ))
                a.const(b'b')
                a.op(b't')
            self.array_state(a)
            a.op(b'tR')
            return
        aliased = self.rng.random() < 0.15
        if aliased:
            a.op(b'(')
        a.glob(self.rng.choice(['reconstruct1', 'reconstruct2']))
        if self.rng.random() < 0.9:
            a.op(b'(')
            a.glob('ndarray' if self.rng.random() < 0.95 else 'dtype')
            a.const((0, ) if self.rng.random() < 0.9 else (
                self.rng.randint(0, 9), ))
            a.const(b'b' if self.rng.random() < 0.9 else b'f')
            a.op(b't')
        else:
            a.const((self.shape(), ))
        a.op(b'R')
        index = len(a.memo)
        if aliased or self.rng.random() < 0.3:
            a.put('array')
        if aliased:  # torch.from_numpy over it before its BUILD
            self.alias(a, index)
            a.get_index(index)
        for _ in range(self.rng.choice([1] * 10 + [0, 2])):
            self.array_state(a)
            a.op(b'b')
        if aliased:
            a.op(b't')

    def array_state(self, a: Assembler) -> None:
        shape = self.shape()
        a.op(b'(')
        a.const(1 if self.rng.random() < 0.95 else 2)
        a.const(shape)
        itemsize = 8
        self.dtype(a, built=self.rng.random() < 0.95)
        a.const(self.rng.random() < 0.2)
        if self.rng.random() < 0.1 and a.get('bytes'):
            pass
        else:
            a.const(self.data(shape, self.rng.choice([1, 2, 4, itemsize])))
            if self.rng.random() < 0.2:
                a.put('bytes')
        a.op(b't')

    def alias(self, a: Assembler, index: int) -> None:
        """torch's ``_rebuild_device_tensor_from_numpy`` (torch.from_numpy)
        over memo slot ``index``."""
        a.glob('from_numpy')
        a.op(b'(')
        a.get_index(index)
        a.glob('float32')
        a.const('cpu')
        a.const(False)
        a.op(b'tR')

    def scalar(self, a: Assembler) -> None:
        a.glob(self.rng.choice(['scalar1', 'scalar2']))
        a.op(b'(')
        self.dtype(a)
        a.const(self.data((1, ), self.rng.choice([1, 2, 4, 8, 16])))
        a.op(b't')
        a.op(b'\x81' if self.rng.random() < 0.05 else b'R')

    def history(self, a: Assembler) -> None:
        r = self.rng.random()
        a.glob('history')
        if r < 0.15:
            a.const((self.rng.randint(0, 5), ))
            a.op(b'R' if self.rng.random() < 0.5 else b'\x81')
        else:
            a.op(b')\x81')
        if self.rng.random() < 0.3:
            a.put('history')
        for _ in range(self.rng.choice([1] * 8 + [0, 2])):
            a.op(b'}(')
            keys = [
                'max_length', '_log_history', '_count_history',
                'statistics_methods'
            ]
            if self.rng.random() < 0.1:
                keys.append(self.rng.choice(['extra', '__class__']))
            if self.rng.random() < 0.1:
                keys.remove(self.rng.choice(keys))
            for key in keys:
                a.const(key)
                if key == 'max_length':
                    a.const(self.rng.choice([1000, 1, 0, -5, 2**70]))
                elif key == 'statistics_methods':
                    a.op(b'}(')
                    for name in self.rng.sample(
                        ['mean', 'max', 'min', 'current', '__init__'],
                            self.rng.randint(0, 3)):
                        a.const(name)
                        a.glob('getattr')
                        a.op(b'(')
                        a.glob('history' if self.rng.random() <
                               0.9 else 'ordered')
                        a.const(
                            self.rng.choice([
                                'mean', 'max', 'min', 'current', '__init__',
                                '__class__'
                            ]))
                        a.op(b'tR')
                    a.op(b'u')
                else:
                    self.array(a)
            a.op(b'ub')

    # what torch's own allowlist admits and mmvig's loader refuses --------
    def hole(self, a: Assembler) -> None:
        """One of the calls and structures torch's unpickler admits that
        allocate or run far beyond the file (refused by mmvig's loader)."""
        self.holes = True
        kind = self.rng.choice([
            'bytearray', 'codecs', 'legacy tensor', 'from_numpy', 'from_type',
            'doubling key', 'nesting'
        ])
        if kind == 'bytearray':
            a.op(b'cbuiltins\nbytearray\n')
            a.const((self.rng.choice([2**31 - 1, 10**9, 4096]), ))
            a.op(b'R')
        elif kind == 'codecs':
            levels = self.rng.randint(2, 32)
            for _ in range(levels):
                a.op(b'c_codecs\nencode\n(')
            a.const('A' * self.rng.randint(1, 8))
            a.const('latin1')
            a.op(b'tR')
            for _ in range(levels - 1):
                a.const(self.rng.choice(['hex_codec', 'base64', 'latin1']))
                a.op(b'tR')
        elif kind == 'legacy tensor':
            a.op(b'ctorch\n' + self.rng.choice(
                [b'LongTensor', b'FloatTensor', b'ByteTensor', b'Tensor']) +
                 b'\n')
            a.const((self.rng.choice([4096, 2**20, 2**31 - 1]), ))
            a.op(b'R' if self.rng.random() < 0.7 else b'\x81')
        elif kind == 'from_numpy':
            a.glob('from_numpy')
            a.op(b'(')
            self.array(a)
            a.glob('float32')
            a.const('cpu')
            a.const(False)
            a.op(b'tR')
        elif kind == 'from_type':
            a.glob('from_type')
            a.op(b'(')
            a.glob('getattr')
            a.op(b'(')
            a.glob('history')
            a.const(self.rng.choice(['current', 'mean', 'min']))
            a.op(b'tR')
            a.op(b'ctorch\nTensor\n')
            a.const(())
            a.op(b'}tR')
        elif kind == 'doubling key':
            a.op(b'}(')
            base = len(a.memo)
            a.const('leaf')
            a.put('doubling')
            for level in range(self.rng.randint(25, 60)):
                a.get_index(base + level)
                a.op(b'\x86')
                a.put('doubling')
            a.const(0)
            a.op(b'u')
        else:
            depth = self.rng.randint(65, 20000)
            a.op(b'](' * depth)
            a.const(0)
            a.op(b'e' * depth)

    def value(self, a: Assembler, depth: int = 0) -> None:
        r = self.rng.random()
        if depth < 2 and r < 0.15:
            a.op(b']')
            a.op(b'(')
            for _ in range(self.rng.randint(0, 3)):
                self.value(a, depth + 1)
            a.op(b'e')
            return
        choice = self.rng.choices(
            [self.array, self.dtype, self.scalar, self.history],
            [5, 2, 2, 2])[0]
        choice(a)
        if self.rng.random() < 0.1:
            a.get()  # the same object again, elsewhere in the tree
            a.op(b'\x86')

    def case(self) -> bytes:
        a = Assembler(self.rng)
        a.op(b'}(')
        count = self.rng.randint(1, 4)
        hole = self.rng.randrange(count) if self.rng.random() < 0.2 else -1
        for i in range(count):
            a.const(f'k{i}')
            self.hole(a) if i == hole else self.value(a)
        a.op(b'u')
        return a.getvalue()

    def archive(self, pickle_bytes: bytes) -> bytes:
        """The file around a case's pickle: mostly as torch.save lays it
        out; else a deflated pickle, two names over one record, protocol 5
        opcodes, or the pickle alone (not a zip: torch's legacy reader)."""
        r = self.rng.random()
        if r < 0.85:
            return torch_archive(pickle_bytes)
        if r < 0.88:
            self.holes = True
            return torch_archive(pickle_bytes, deflate=('data.pkl', ))
        if r < 0.91:
            self.holes = True
            return raw_zip([('archive/data.pkl', pickle_bytes),
                            ('archive/byteorder', b'little'),
                            ('archive/version', b'3\n')],
                           aliases=[('archive/.data/serialization_id', 0)])
        if r < 0.96:  # protocol 5 and its framing, which torch does not read
            body = pickle_bytes[2:]
            return torch_archive(b'\x80\x05\x95' +
                                 len(body).to_bytes(8, 'little') + body)
        self.holes = True  # torch's legacy format: a magic number first
        return pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) + pickle_bytes


def raw_zip(
    records: List[Tuple[str, bytes]],
    aliases: List[Tuple[str, int]] = (),
    deflate: Tuple[str, ...] = ()
) -> bytes:
    """A zip archive written byte by byte: each record in order, those
    named in ``deflate`` compressed; ``aliases``: more directory entries,
    each a new name for the header of record ``index`` (what no zip writer
    makes: two names over one record)."""
    out = io.BytesIO()
    headers = []
    for name, data in records:
        method, stored = (8, _deflated(data)) if name in deflate else (0, data)
        raw = name.encode()
        headers.append(
            (out.tell(), zlib.crc32(data), len(stored), len(data), method))
        out.write(
            struct.pack('<4sHHHHHIIIHH', b'PK\x03\x04', 20, 0, method, 0, 0,
                        headers[-1][1], len(stored), len(data), len(raw), 0) +
            raw + stored)
    entries = [(name, headers[i]) for i, (name, _) in enumerate(records)]
    entries += [(name, headers[i]) for name, i in aliases]
    start, directory = out.tell(), io.BytesIO()
    for name, (offset, crc, stored, size, method) in entries:
        raw = name.encode()
        directory.write(
            struct.pack('<4sHHHHHHIIIHHHHHII', b'PK\x01\x02', 20, 20, 0,
                        method, 0, 0, crc, stored, size, len(
                            raw), 0, 0, 0, 0, 0, offset) + raw)
    out.write(directory.getvalue())
    out.write(
        struct.pack('<4sHHHHIIH', b'PK\x05\x06', 0, 0, len(entries),
                    len(entries), len(directory.getvalue()), start, 0))
    return out.getvalue()


def _deflated(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def torch_archive(
    pickle_bytes: bytes,
    storages: Optional[Dict[str, bytes]] = None,
    aliases: List[Tuple[str, str]] = (),
    deflate: Tuple[str, ...] = ()
) -> bytes:
    """A checkpoint laid out as torch.save lays one out (``archive/``
    records: the pickle, byte order, storages, version), built by
    :func:`raw_zip`; ``aliases``: (storage key, key of the storage whose
    record it names too); ``deflate``: record names (without
    ``archive/``) to compress."""
    records = [('archive/data.pkl', pickle_bytes),
               ('archive/byteorder', b'little')]
    records += [(f'archive/data/{k}', v) for k, v in (storages or {}).items()]
    records += [('archive/version', b'3\n'),
                ('archive/.data/serialization_id', b'0' * 40)]
    index = {name: i for i, (name, _) in enumerate(records)}
    return raw_zip(records,
                   [(f'archive/data/{new}', index[f'archive/data/{old}'])
                    for new, old in aliases],
                   tuple(f'archive/{name}' for name in deflate))


def write_checkpoint(path: str, pickle_bytes: bytes) -> None:
    """A torch.save-style zip whose data.pkl is ``pickle_bytes``."""
    with open(path, 'wb') as f:
        f.write(torch_archive(pickle_bytes))


class _Storage:

    def __init__(self, numel: int, key: str = '0') -> None:
        self.numel = numel
        self.key = key


class _Tensor:
    """Pickles as torch's ``_rebuild_tensor_v2`` with the given geometry."""

    def __init__(self,
                 numel: int,
                 size: tuple,
                 stride: tuple,
                 offset: int = 0,
                 key: str = '0') -> None:
        self.args = (_Storage(numel, key), offset, size, stride)

    def __reduce__(self):
        import collections

        import torch
        return (torch._utils._rebuild_tensor_v2,
                self.args + (False, collections.OrderedDict()))


def tensor_pickle(tensors: Dict[str, tuple],
                  extra: Optional[dict] = None) -> bytes:
    """The pickle of ``dict(extra, state_dict=...)`` holding float32
    tensors of any geometry: ``tensors[name] = (storage numel, size,
    stride[, offset[, storage key]])``."""
    import torch

    class Pickler(pickle.Pickler):

        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                return ('storage', torch.FloatStorage, obj.key, 'cpu',
                        obj.numel)
            return None

    buffer = io.BytesIO()
    Pickler(
        buffer, protocol=2).dump(
            dict(
                extra or {},
                state_dict={
                    k: _Tensor(*v)
                    for k, v in tensors.items()
                }))
    return buffer.getvalue()


def write_tensor_checkpoint(path: str,
                            tensors: Dict[str, tuple],
                            extra: Optional[dict] = None) -> None:
    """A torch.save-style zip whose ``state_dict`` holds float32 tensors of
    any geometry (see :func:`tensor_pickle`), every storage record 4 zero
    bytes; ``extra``: plain entries beside ``state_dict`` (a ``meta`` dict,
    say)."""
    keys = {v[4] if len(v) > 4 else '0' for v in tensors.values()} or {'0'}
    with open(path, 'wb') as f:
        f.write(
            torch_archive(
                tensor_pickle(tensors, extra),
                {k: b'\0' * 4
                 for k in sorted(keys)}))


def _loaders() -> Tuple[str, ...]:
    """The loaders a child reads each case with: torch's safe loader,
    mmengine's own, mmvig's, and mmengine's within mmvig's runner. On the
    OneDL stack mmengine's own loader is the library's to answer for, and is
    left out: onedl-mmengine 0.10.12 reads under an allowlist of numpy's own
    constructors (which builds what mmvig's stand-ins refuse) and falls
    back to ``weights_only=False`` after torch refuses
    (``mmengine/runner/checkpoint.py``, ``_safe_torch_load``). No path of
    mmvig takes it (docs/installation.md, "Two stacks"). There torch's safe
    loader holds none of mmvig's stand-ins either
    (``mmvig.safe_load.allow_training_checkpoint_types``) and refuses every
    numpy value: it is left out too."""
    from mmvig.safe_load import stand_ins_in_torch_allowlist
    if not stand_ins_in_torch_allowlist():
        return ('mmvig', 'runner')
    return ('torch.load', 'mmengine', 'mmvig', 'runner')


LOADERS = _loaders()

# The child: loads each case through the loaders and checks the result.
CHILD = r'''
import gc, json, os, pickle, resource, sys, time
import numpy as np
import torch
import mmvig
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint
from mmvig.safe_load import checked_checkpoint_loaders, read_checkpoint

PLAIN = set('biufc')
def vm_kb():
    for line in open('/proc/self/status'):
        if line.startswith('VmSize:'):
            return int(line.split()[1])
limit = (vm_kb() + 3 * 1024 * 1024) * 1024  # 3 GiB above what is mapped
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

def problems(value, size):
    found, seen, total = [], set(), 0
    def walk(x, depth=0):
        nonlocal total
        if id(x) in seen or depth > 50:
            return
        seen.add(id(x))
        if isinstance(x, np.ndarray):
            if x.dtype.kind not in PLAIN or x.dtype.hasobject or \
                    x.dtype.fields:
                found.append(f'array of dtype {x.dtype}')
            elif not (x.flags.owndata and x.flags.c_contiguous):
                found.append('array not owned or not C-contiguous '
                             f'({x.flags.owndata}, {x.flags.c_contiguous})')
            total += x.nbytes
            repr(x); x.sum()
        elif isinstance(x, np.generic):
            if x.dtype.kind not in PLAIN:
                found.append(f'scalar of dtype {x.dtype}')
            repr(x)
        elif isinstance(x, HistoryBuffer):
            for h in (x._log_history, x._count_history):
                walk(h, depth + 1)
            if len(x._log_history):
                x.mean()
        elif type(x).__name__ == 'LoadedDtype':
            if x.dtype.kind not in PLAIN:
                found.append(f'dtype {x.dtype}')
        elif isinstance(x, torch.Tensor):
            repr(x)
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(k, depth + 1); walk(v, depth + 1)
        elif isinstance(x, (list, tuple, set)):
            for v in x:
                walk(v, depth + 1)
        elif isinstance(x, (int, float, complex, str, bytes, bool,
                            type(None))):
            pass
        else:
            found.append(f'loaded a {type(x).__name__}')
    walk(value)
    if total > size:
        found.append(f'{total} bytes of numpy data from a {size}-byte file')
    try:
        pickle.dumps(value)
    except Exception:
        pass
    return found

LOADERS = {
    'torch.load': lambda p: torch.load(p, weights_only=True),
    'mmengine': lambda p: _load_checkpoint(p, map_location='cpu'),
    'mmvig': lambda p: read_checkpoint(p),
    'runner': lambda p: checked(p),
}
LOADERS = {name: LOADERS[name] for name in sys.argv[1:]}
def checked(path):
    with checked_checkpoint_loaders():
        return _load_checkpoint(path, map_location='cpu')

soft, hard = resource.getrlimit(resource.RLIMIT_AS)
for line in sys.stdin:
    path = line.strip()
    size = os.path.getsize(path)
    hole = path.endswith('.hole.pth')
    for name, load in LOADERS.items():
        if hole and name in ('torch.load', 'mmengine'):
            continue  # torch's own allowlist admits these
        ours = name in ('mmvig', 'runner')
        print(json.dumps({'start': path, 'loader': name}), flush=True)
        found, loaded = [], False
        if ours:  # what mmvig promises: +500 MB at most
            cap = vm_kb() * 1024 + 500 * 10**6
            resource.setrlimit(resource.RLIMIT_AS, (min(cap, hard), hard))
        start = time.perf_counter()
        try:
            value = load(path)
            loaded = True
        except MemoryError as e:
            found.append(f'MemoryError: {e}')
        except Exception as e:
            text = str(e)
            if 'MemoryError' in text or 'Unable to allocate' in text:
                found.append('a large allocation: ' +
                             ' '.join(text.split())[:200])
            elif ours and (path not in text or '\n' in text):
                found.append('a refusal not in one line naming the file: ' +
                             text[:200])
        else:
            found += problems(value, size)
            if hole and ours:
                found.append('loaded a case that only mmvig refuses')
            del value
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        if ours and time.perf_counter() - start > 10:
            found.append(f'took {time.perf_counter() - start:.0f} s')
        gc.collect()
        print(json.dumps({'done': path, 'loader': name, 'found': found,
                          'loaded': loaded}), flush=True)
'''


def run_cases(
        paths: List[str],
        timeout: float = 600,
        stats: Optional[Dict[str, int]] = None,
        loaded: Optional[Dict[Tuple[str, str], bool]] = None) -> List[Dict]:
    """Load every path in child processes; a crash is recorded and the next
    child goes on after the case that crashed it. ``stats`` counts the loads
    that succeeded ('loaded') and were refused ('refused'); ``loaded`` maps
    each (case, loader) that finished to whether it loaded."""
    from mmvig.testing import run_python
    findings = []
    stats = {} if stats is None else stats
    pending = list(paths)
    env = dict(PYTHONWARNINGS='ignore', HF_HUB_OFFLINE='1')
    while pending:
        child = run_python(
            '-c',
            CHILD,
            *LOADERS,
            env=env,
            stdin='\n'.join(pending) + '\n',
            timeout=timeout)
        last, done = None, set()
        for line in child.stdout.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if 'start' in record:
                last = (record['start'], record['loader'])
            else:
                done.add(record['done'])
                last = None
                key = 'loaded' if record['loaded'] else 'refused'
                if loaded is not None:
                    loaded[record['done'], record['loader']] = \
                        record['loaded']
                stats[key] = stats.get(key, 0) + 1
                if record['found']:
                    findings.append({
                        'case': record['done'],
                        'loader': record['loader'],
                        'found': record['found']
                    })
        if child.returncode == 0:
            break
        if last is None:
            raise RuntimeError('the fuzz child failed outside a case: ' +
                               child.stderr[-3000:])
        died = 'crash' if child.returncode < 0 else 'the child died'
        findings.append({
            'case':
            last[0],
            'loader':
            last[1],
            'found': [
                f'{died}: return code {child.returncode}; ' +
                ' '.join(child.stderr.split()[-30:])
            ]
        })
        pending = pending[pending.index(last[0]) + 1:]
    return findings


def fuzz(seed: int,
         cases: Optional[int] = None,
         minutes: Optional[float] = None,
         workdir: Optional[str] = None,
         batch: int = 100,
         stats: Optional[Dict[str, int]] = None) -> Tuple[int, List[Dict]]:
    """Generate and load cases (``cases`` of them, or for ``minutes``);
    returns (cases tried, findings)."""
    workdir = workdir or tempfile.mkdtemp(prefix="ckpt_fuzz_")
    os.makedirs(workdir, exist_ok=True)
    generator = Generator(seed)
    deadline = time.monotonic() + 60 * minutes if minutes else None
    tried, findings = 0, []
    while True:
        count = batch if cases is None else min(batch, cases - tried)
        if count <= 0 or (deadline and time.monotonic() > deadline):
            break
        paths = []
        for _ in range(count):
            generator.holes = False
            data = generator.archive(generator.case())
            path = osp.join(
                workdir, f'case_{seed}_{tried + len(paths)}' +
                ('.hole' if generator.holes else '') + '.pth')
            with open(path, 'wb') as f:
                f.write(data)
            paths.append(path)
        findings += run_cases(paths, stats=stats)
        tried += count
    return tried, findings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seed', type=int, default=0)
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--cases', type=int, default=300)
    group.add_argument('--minutes', type=float)
    parser.add_argument('--workdir', help='keep the cases here')
    args = parser.parse_args(argv)
    stats: Dict[str, int] = {}
    tried, findings = fuzz(
        args.seed,
        None if args.minutes else args.cases,
        args.minutes,
        args.workdir,
        stats=stats)
    kinds: Dict[str, int] = {}
    for finding in findings:
        for what in finding['found']:
            key = what.split(':')[0][:60]
            kinds[key] = kinds.get(key, 0) + 1
    for finding in findings[:20]:
        print(json.dumps(finding))
    print(f'{tried} cases x 4 loaders: {stats.get("loaded", 0)} loads, '
          f'{stats.get("refused", 0)} refusals, {len(findings)} findings')
    for key, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f'  {n:5d}  {key}')
    return 1 if findings else 0


if __name__ == '__main__':
    sys.exit(main())
