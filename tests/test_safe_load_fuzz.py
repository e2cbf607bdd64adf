"""Checkpoint loading cannot crash: each way into mmvig's numpy and
HistoryBuffer stand-ins other than the opcodes numpy's and mmengine's own
pickles use is refused, on all three loaders, in a child process (so a
crash is a failure, not a lost test run); then the seeded fuzzer."""
import os.path as osp

import numpy as np
import pytest
import torch
from checkpoint_fuzz import (LOADERS, Assembler, array_state, fuzz,
                             placeholder, plain_dtype, run_cases,
                             write_checkpoint)


def _history_state(a: Assembler, logs=None, counts=None) -> None:
    a.op(b'}(')
    a.const('max_length')
    a.const(10)
    for key, memo in (('_log_history', logs), ('_count_history', counts)):
        a.const(key)
        if memo is None:
            placeholder(a)
            array_state(a, (1, ), b'\x00' * 8)
            a.op(b'b')
        else:
            a.get_index(memo)
    a.const('statistics_methods')
    a.op(b'}')
    a.op(b'u')


def _payloads():
    """Each way into the stand-ins that a real checkpoint never takes
    (2026-12-02: crashes, use after free and loads that should not)."""
    cases = {}

    def case(name):

        def register(build):
            a = Assembler(None)
            a.op(b'}(')
            a.const('x')
            build(a)
            a.op(b'u')
            cases[name] = a.getvalue()
            return build

        return register

    @case('ndarray called over an object dtype')  # segfault before
    def _(a):
        a.glob('ndarray')
        a.const(((2, ), 'O', b'\x41' * 16))
        a.op(b'R')

    @case('ndarray called with a shape and no bytes')  # 64 GiB before
    def _(a):
        a.glob('ndarray')
        a.const(((2**33, ), 'f8'))
        a.op(b'R')

    @case('ndarray called over another array')  # an aliasing array before
    def _(a):
        placeholder(a)
        a.put('array')
        array_state(a)
        a.op(b'b')
        a.op(b'(')
        a.get_index(0)
        a.glob('ndarray')
        a.op(b'(')
        a.const((2, ))
        a.const('f8')
        a.get_index(0)
        a.op(b'tR')
        a.op(b't')

    @case('NEWOBJ of ndarray')
    def _(a):
        a.glob('ndarray')
        a.op(b'(')
        a.const((4, ))
        plain_dtype(a)
        a.op(b't\x81')

    @case('NEWOBJ of the dtype stand-in')
    def _(a):
        a.glob('loaded_dtype')
        a.const(('f8', ))
        a.op(b'\x81')
        a.const((3, '<', None, None, None, -1, -1, 0))
        a.op(b'b')

    @case('a second BUILD of a placed array')  # changes loaded data before
    def _(a):
        a.op(b'(')
        placeholder(a)
        a.put('array')
        array_state(a, (2, ), b'\x01' * 16)
        a.op(b'b')
        a.get_index(0)
        array_state(a, (1, ), b'\x02' * 8)
        a.op(b'b')
        a.op(b't')

    @case('a second BUILD after a HistoryBuffer took the array')  # UAF
    def _(a):
        a.op(b'(')
        placeholder(a)
        a.put('array')
        array_state(a, (4, ), b'\x01' * 32)
        a.op(b'b')
        a.glob('history')
        a.op(b')\x81')
        _history_state(a, logs=0, counts=0)
        a.op(b'b')
        a.get_index(0)
        array_state(a, (1, ), b'\x02' * 8)
        a.op(b'b')
        a.op(b't')

    @case('a second BUILD of a dtype')
    def _(a):
        a.glob('dtype')
        a.const(('f8', False, True))
        a.op(b'R')
        for order in '<>':
            a.const((3, order, None, None, None, -1, -1, 0))
            a.op(b'b')

    @case('HistoryBuffer called with constructor arguments')
    def _(a):
        a.glob('history')  # HistoryBuffer(log_history, count_history, max)
        a.const(((1, 2), (1, 1), 5))
        a.op(b'R')

    @case('a second BUILD of a HistoryBuffer')
    def _(a):
        a.glob('history')
        a.op(b')\x81')
        _history_state(a)
        a.op(b'b')
        _history_state(a)
        a.op(b'b')

    @case('BUILD through _rebuild_from_type_v2')
    def _(a):
        a.glob('from_type')
        a.op(b'(')
        a.glob('reconstruct1')
        a.glob('ndarray')
        a.op(b'(')
        a.glob('ndarray')
        a.const((0, ))
        a.const(b'b')
        a.op(b't')
        array_state(a)
        a.op(b'tR')

    @case('torch.from_numpy over an array before its BUILD')
    def _(a):
        a.op(b'(')
        placeholder(a)
        a.put('array')
        a.glob('from_numpy')
        a.op(b'(')
        a.get_index(0)
        a.glob('float32')
        a.const('cpu')
        a.const(False)
        a.op(b'tR')
        a.get_index(0)
        array_state(a, (64, ), b'\x03' * 512)
        a.op(b'b')
        a.op(b't')

    @case('one buffer under many arrays')  # 2 MB from a small file before
    def _(a):
        a.op(b'(')
        a.const(b'\x00' * 20000)
        a.put('bytes')
        for _ in range(100):
            placeholder(a)
            a.op(b'(')
            a.const(1)
            a.const((2500, ))
            plain_dtype(a)
            a.const(False)
            a.get_index(0)
            a.op(b't')
            a.op(b'b')
        a.op(b't')

    @case('an array of a dtype not yet built')
    def _(a):
        placeholder(a)
        a.op(b'(')
        a.const(1)
        a.const((2, ))
        a.glob('dtype')
        a.const(('f8', False, True))
        a.op(b'R')
        a.const(False)
        a.const(b'\x00' * 16)
        a.op(b'tb')

    return cases


PAYLOADS = _payloads()


def _load_children(tmp_path, payloads):
    paths = {}
    for name, data in payloads.items():
        paths[name] = str(tmp_path / (name.replace(' ', '_') + '.pth'))
        write_checkpoint(paths[name], data)
    loaded = {}
    findings = run_cases(list(paths.values()), loaded=loaded)
    return paths, findings, loaded


@pytest.mark.long
def test_every_other_way_in_is_refused_on_every_loader(tmp_path):
    paths, findings, loaded = _load_children(tmp_path, PAYLOADS)
    assert not findings, findings
    for name, path in paths.items():
        for loader in LOADERS:
            assert loaded.get((path, loader)) is False, (name, loader)


@pytest.mark.parametrize('name', sorted(PAYLOADS))
def test_the_refusal_names_the_file_and_the_way_in(name, tmp_path):
    from mmvig.safe_load import (CheckpointFileError, UnsafeCheckpointError,
                                 read_checkpoint)
    path = str(tmp_path / 'crafted.pth')
    write_checkpoint(path, PAYLOADS[name])
    with pytest.raises((UnsafeCheckpointError, CheckpointFileError),
                       match=osp.basename(path)) as error:
        read_checkpoint(path)
    assert 'Traceback' not in str(error.value)


def test_real_numpy_data_still_loads_as_fresh_owned_arrays(tmp_path):
    """What numpy's and mmengine's own pickles write loads: each array an
    owned, C-contiguous copy (a Fortran-ordered one too) in the native byte
    order, each dtype from mmvig's table."""
    from mmengine.logging.history_buffer import HistoryBuffer

    from mmvig.safe_load import (PLAIN_DTYPES, read_checkpoint,
                                 stand_ins_in_torch_allowlist)
    buffer = HistoryBuffer()
    for value in (1.0, 2.0, 6.0):
        buffer.update(value)
    values = {
        str(dtype): np.arange(6).astype(dtype).reshape(2, 3)
        for dtype in PLAIN_DTYPES.values()
    }
    values.update(
        fortran=np.asfortranarray(np.arange(6.).reshape(2, 3)),
        big=np.arange(3, dtype='>i8'),
        hub=buffer,
        empty=np.zeros((0, 3), np.float32),
        scalar=np.float16(2))
    path = str(tmp_path / 'real.pth')
    torch.save(values, path)
    loads = [read_checkpoint(path)]
    if stand_ins_in_torch_allowlist():  # the upstream stack
        loads.append(torch.load(path, weights_only=True))
    for loaded in loads:
        for key, value in values.items():
            if key == 'hub':
                assert type(loaded[key]) is HistoryBuffer
                assert loaded[key].mean() == 3.0
                assert all(
                    type(h) is np.ndarray and h.flags.owndata
                    for h in loaded[key].data)
                continue
            np.testing.assert_array_equal(loaded[key], value)
            # numpy's own unpickling swaps arrays to the native byte order
            assert loaded[key].dtype == value.dtype.newbyteorder('=')
            if isinstance(value, np.ndarray):
                assert loaded[key].flags.owndata
                assert loaded[key].flags.c_contiguous


@pytest.mark.long
def test_the_seeded_fuzzer_finds_nothing(tmp_path):
    stats = {}
    tried, findings = fuzz(
        seed=2026, cases=200, workdir=str(tmp_path), stats=stats)
    assert tried == 200
    assert not findings, findings[:5]
    # the cases reach both outcomes: loads (more than two per loader) and
    # refusals
    assert stats['loaded'] > 2 * len(LOADERS) and \
        stats['refused'] > 100, stats


def test_fuzz_minutes(request, tmp_path):
    """The release run: ``pytest tests/test_safe_load_fuzz.py
    --fuzz-minutes 30`` (skipped without the option)."""
    minutes = request.config.getoption('--fuzz-minutes')
    if not minutes:
        pytest.skip('a release run: pass --fuzz-minutes N')
    stats = {}
    tried, findings = fuzz(
        seed=int(minutes * 1000),
        minutes=minutes,
        workdir=str(tmp_path),
        stats=stats)
    print(f'{tried} cases, {stats}')
    assert not findings, findings[:5]
