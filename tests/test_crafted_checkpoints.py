"""Crafted checkpoints of under 1 MB, by every path mmvig reads them (its
loader, mmengine's loaders inside :class:`mmvig.engine.MMVigRunner`, a URL):
each loads plain data of its own or is refused in one line naming the file,
in a child process under an address-space cap of 500 MB above what it has
mapped (a blowup is a failure, not a lost test run). Each case loaded, ran
out of memory or ran code on the loader before these checks."""
import http.server
import io
import json
import os
import os.path as osp
import random
import re
import textwrap
import threading
import zipfile
from typing import List

import numpy as np
import pytest
import torch
from checkpoint_fuzz import (Assembler, array_state, placeholder, plain_dtype,
                             tensor_pickle, torch_archive,
                             write_tensor_checkpoint)

from mmvig.testing import run_tool

LOADERS = ('mmvig', 'runner', 'url')


def _pickle(build) -> bytes:
    """The pickle of ``{'x': VALUE}``, VALUE assembled by ``build(a)``."""
    a = Assembler(random.Random(0))
    a.op(b'}(')
    a.const('x')
    build(a)
    a.op(b'u')
    return a.getvalue()


def _call(a: Assembler, module: str, name: str, *args) -> None:
    a.op(f'c{module}\n{name}\n'.encode())
    a.const(tuple(args))
    a.op(b'R')


def _codecs_chain(a: Assembler) -> None:
    """``_codecs.encode`` of its own result 30 times over 'hex_codec': each
    doubles the bytes (1 GiB from one byte)."""
    for _ in range(31):
        a.op(b'c_codecs\nencode\n(')
    a.const('A')
    a.const('latin1')
    a.op(b'tR')
    for _ in range(30):
        a.const('hex_codec')
        a.op(b'tR')


def _doubling(a: Assembler, levels: int) -> None:
    """A tuple of two references to the tuple below, ``levels`` deep: a few
    bytes a level, 2**levels leaves for anything that walks it whole."""
    base = len(a.memo)
    a.const('leaf')
    a.put('doubling')
    for level in range(levels):
        a.get_index(base + level)  # the tuple below, twice
        a.op(b'\x86')
        a.put('doubling')


def _built_array(a: Assembler, data: bytes) -> None:
    placeholder(a)
    array_state(a, (len(data) // 8, ), data)
    a.op(b'b')


def _from_numpy(a: Assembler) -> None:
    a.glob('from_numpy')
    a.op(b'(')
    _built_array(a, b'\0' * 64)
    a.glob('float32')
    a.const('cpu')
    a.const(False)
    a.op(b'tR')


def _from_type_through_getattr(a: Assembler) -> None:
    a.glob('from_type')
    a.op(b'(')
    a.glob('getattr')
    a.op(b'(')
    a.glob('history')
    a.const('current')
    a.op(b'tR')
    a.op(b'ctorch\nTensor\n')
    a.const(())
    a.op(b'}tR')


def _shared_bytes(a: Assembler) -> None:
    """Two arrays built from one memoised 2 KB bytes (numpy's own BUILD
    would make both point into it), beside 8 KB of text (the file holds
    more than the arrays' bytes)."""
    a.op(b'(')
    a.const('p' * 8192)
    placeholder(a)
    a.op(b'(')
    a.const(1)
    a.const((256, ))
    plain_dtype(a)
    a.const(False)
    a.const(bytes(range(256)) * 8)
    a.put('bytes')
    a.op(b'tb')
    placeholder(a)
    array_state(a, (256, ), None)
    a.op(b'bt')


def _nested_lists(a: Assembler, depth: int) -> None:
    for _ in range(depth):
        a.op(b'](')
    a.const(0)
    for _ in range(depth):
        a.op(b'e')


def _data_pkl(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    with zipfile.ZipFile(buffer) as archive:
        return archive.read(
            next(n for n in archive.namelist() if n.endswith('data.pkl')))


def _legacy() -> bytes:
    buffer = io.BytesIO()
    torch.save({'w': torch.zeros(4)},
               buffer,
               _use_new_zipfile_serialization=False)
    return buffer.getvalue()


def _cases():
    """name -> (file bytes, a regex the refusal matches, or None: loads)."""
    n = 2_000_000  # 8 MB of zeros, a few KB deflated
    return {
        'bytearray of 2e9 bytes':
        (torch_archive(
            _pickle(
                lambda a: _call(a, 'builtins', 'bytearray', 2_000_000_000))),
         'calls bytearray other than on bytes it holds'),
        '_codecs.encode of its own result':
        (torch_archive(_pickle(_codecs_chain)),
         "_codecs.encode other than on a string with 'latin1'"),
        'a legacy tensor constructor': (torch_archive(
            _pickle(lambda a: _call(a, 'torch', 'LongTensor', 4096))),
                                        'calls torch.LongTensor, which'),
        'a deflated pickle':
        (torch_archive(_data_pkl({'x': np.zeros(n)}), deflate=('data.pkl', )),
         "record 'archive/data.pkl' is compressed"),
        'a deflated storage': (torch_archive(
            tensor_pickle({'w': (n, (n, ), (1, ))}), {'0': b'\0' * 4 * n},
            deflate=('data/0', )), "record 'archive/data/0' is compressed"),
        'names over one record': (
            torch_archive(
                tensor_pickle(
                    {
                        f'w{i}': (16384, (16384, ), (1, ), 0, str(i))
                        for i in range(64)
                    }), {'0': b'\0' * 65536},
                aliases=[(str(i), '0') for i in range(1, 64)]),
            "the record 'archive/data/1' is named otherwise in its header"),
        'a legacy (non-zip) file': (_legacy(), 'it is not a zip archive'),
        'a HistoryBuffer never built':
        (torch_archive(_pickle(lambda a: (a.glob('history'), a.op(b')\x81')))),
         'never sets their state'),
        'an array never built': (torch_archive(_pickle(placeholder)),
                                 'never sets their state'),
        'a dtype never built':
        (torch_archive(_pickle(lambda a: plain_dtype(a, built=False))),
         'never sets their state'),
        'torch.from_numpy of a built array':
        (torch_archive(_pickle(_from_numpy)),
         'calls torch._utils._rebuild_device_tensor_from_numpy'),
        '_rebuild_from_type_v2 of a looked-up method':
        (torch_archive(_pickle(_from_type_through_getattr)),
         'calls _rebuild_from_type_v2 with'),
        'a dtype state of 2**40 leaves': (torch_archive(
            _pickle(lambda a: (plain_dtype(a, built=False), _doubling(a, 40),
                               a.op(b'b')))), 'leaves'),
        'a key of 2**40 leaves': (torch_archive(
            _pickle(lambda a:
                    (a.op(b'}('), _doubling(a, 40), a.const(1), a.op(b'u')))),
                                  'leaves'),
        'lists nested 5000 deep':
        (torch_archive(_pickle(lambda a: _nested_lists(a, 5000))),
         'nests containers more than 64 levels deep'),
        'two arrays over one memoised bytes':
        (torch_archive(_pickle(_shared_bytes)), None),
    }


CHILD = r'''
import json, resource, signal, sys, time
import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader
from mmvig.safe_load import checked_checkpoint_loaders, read_checkpoint

def vm_bytes():
    for line in open('/proc/self/status'):
        if line.startswith('VmSize:'):
            return int(line.split()[1]) * 1024

def plain(value, seen=None):
    """The arrays a load returned, each owned and its own."""
    arrays = []
    stack = [value]
    while stack:
        x = stack.pop()
        if isinstance(x, np.ndarray):
            assert x.flags.owndata and x.flags.writeable, 'not owned'
            arrays.append(x)
        elif isinstance(x, dict):
            stack += list(x.values())
        elif isinstance(x, (list, tuple)):
            stack += list(x)
    for a in arrays:  # no two share memory
        before = [b.tobytes() for b in arrays]
        a.view(np.uint8)[:1] ^= 1
        changed = [i for i, b in enumerate(arrays)
                   if b.tobytes() != before[i]]
        assert len(changed) == 1, 'arrays share memory'
    return len(arrays)

signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(
    TimeoutError('still loading after 120 s')))
for line in sys.stdin:
    case = json.loads(line)
    load = {
        'mmvig': lambda: read_checkpoint(case['path']),
        'runner': lambda: CheckpointLoader.load_checkpoint(case['path']),
        'url': lambda: read_checkpoint(case['url']),
    }[case['loader']]
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm_bytes() + 500 * 10**6
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    start = time.perf_counter()
    signal.alarm(120)
    try:
        with checked_checkpoint_loaders():
            value = load()
        outcome = dict(loaded=True, arrays=plain(value))
    except BaseException as error:
        outcome = dict(loaded=False, error=type(error).__name__,
                       message=str(error))
    signal.alarm(0)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    outcome['seconds'] = time.perf_counter() - start
    print(json.dumps(dict(case, **outcome)), flush=True)
'''


class _Files(http.server.SimpleHTTPRequestHandler):

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope='module')
def served(tmp_path_factory):
    """(folder, URL of that folder) served over HTTP on 127.0.0.1."""
    folder = str(tmp_path_factory.mktemp('served'))
    handler = lambda *a, **k: _Files(*a, directory=folder, **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()


def _child(tmp_path, code: str, *args: str, stdin: str = '') -> List[str]:
    """stdout's lines of ``python -c code args`` in the checkout, with a
    torch hub cache of its own; fails the test unless it exits 0."""
    return run_tool(
        '-c',
        code,
        *args,
        env=dict(TORCH_HOME=str(tmp_path / 'torch_home')),
        stdin=stdin,
        timeout=1800).splitlines()


def _load_in_child(jobs, tmp_path):
    lines = _child(
        tmp_path, CHILD, stdin=''.join(json.dumps(j) + '\n' for j in jobs))
    return [json.loads(line) for line in lines if line.startswith('{')]


def test_every_crafted_file_is_refused_in_one_line_or_loads_plain_data(
        served, tmp_path):
    folder, url = served
    cases = _cases()
    jobs = []
    for i, (name, (data, _)) in enumerate(cases.items()):
        assert len(data) < 2**20, (name, len(data))
        path = osp.join(folder, f'case{i}.pth')
        with open(path, 'wb') as f:
            f.write(data)
        jobs += [
            dict(
                name=name, loader=loader, path=path, url=f'{url}/case{i}.pth')
            for loader in LOADERS
        ]
    reports = _load_in_child(jobs, tmp_path)
    assert len(reports) == len(jobs)
    failures = []
    for report in reports:
        name, expected = report['name'], cases[report['name']][1]
        where = f"{name} ({report['loader']})"
        shown = report['url'] if report['loader'] == 'url' else report['path']
        if expected is None:
            if not report['loaded'] or report['arrays'] != 2:
                failures.append(f'{where}: {report}')
        elif report['loaded']:
            failures.append(f'{where}: loaded')
        elif report['error'] not in ('UnsafeCheckpointError',
                                     'CheckpointFileError') or not re.search(
                                         expected, report['message']) or \
                shown not in report['message'] or '\n' in report['message']:
            failures.append(f"{where}: {report['error']}: "
                            f"{report['message'][:400]}")
    assert not failures, '\n'.join(failures)


def test_an_archive_behind_other_bytes_is_refused(tmp_path):
    """Python's zipfile reads an archive behind other bytes with its offsets
    shifted, torch's reader without: the two would read different records
    (torch fails on this one; a file could be laid out so that it does
    not)."""
    from mmvig.safe_load import CheckpointFileError, read_checkpoint
    path = tmp_path / 'shifted.pth'
    path.write_bytes(b'PK\x03\x04' + b'\0' * 96 +
                     torch_archive(_pickle(lambda a: a.const(1))))
    with pytest.raises(
            CheckpointFileError,
            match='its zip directory is not where its end record '
            'says'):
        read_checkpoint(str(path))


def test_a_refused_value_is_named_without_being_written_out():
    """The refusal's excerpt of a value is built within its bound (before:
    the whole repr, 2**n leaves, then cut)."""
    from mmvig.safe_load.stand_ins import _short
    value = 'leaf'
    for _ in range(60):
        value = (value, value)
    text = _short(value)
    assert len(text) <= 200 and text.startswith('((((..., ...), (...')
    assert _short({'k': 10**5000}) == "{'k': <int of 16610 bits>}"


URL_CHILD = textwrap.dedent('''
    import sys
    import mmvig
    from mmengine.runner.checkpoint import CheckpointLoader
    from mmvig.engine import MMVigRunner
    from mmvig.safe_load import read_checkpoint, checked_checkpoint_loaders
    from mmvig.testing import TINY
    url = sys.argv[1]
    def backbone():
        mmvig.AttentionViG(TINY, init_cfg=dict(
            type='Pretrained', checkpoint=url, prefix='')).init_weights()
    def runner_scheme():
        with checked_checkpoint_loaders():
            CheckpointLoader.load_checkpoint(url)
    for name, load in (('read_checkpoint', lambda: read_checkpoint(url)),
                       ('Pretrained', backbone),
                       ('MMVigRunner scheme', runner_scheme)):
        try:
            load()
            print(name, 'LOADED')
        except Exception as error:
            print(name, type(error).__name__, str(error).replace(chr(10), ' '))
    ''')


def test_a_url_checkpoint_is_read_by_the_same_safe_loader(
        served, tmp_path, malicious):
    """Before: ``read_checkpoint('http://...')`` went through mmengine's
    ``load_url`` (``weights_only=False``) and ran the payload."""
    folder, url = served
    path, marker = malicious
    os.replace(path, osp.join(folder, 'payload.pth'))
    lines = [
        line for line in _child(tmp_path, URL_CHILD, f'{url}/payload.pth')
        if line.startswith(('read_checkpoint', 'Pretrained', 'MMVigRunner'))
    ]
    assert len(lines) == 3, lines
    for line in lines:
        assert 'UnsafeCheckpointError' in line and 'posix.system' in line, \
            line
        assert f'{url}/payload.pth' in line, line
    assert not osp.exists(marker)
    # downloaded once, into torch's hub cache
    assert os.listdir(tmp_path / 'torch_home' / 'hub' /
                      'checkpoints') == ['payload.pth']
    from mmvig.errors import InputError
    from mmvig.safe_load import read_checkpoint
    with pytest.raises(InputError) as error:
        read_checkpoint(f'{url}/missing.pth')
    assert str(error.value).startswith(
        f'Could not download the checkpoint {url}/missing.pth: HTTP Error '
        '404') and '\n' not in str(error.value), str(error.value)


def test_a_url_checkpoint_gets_the_storage_check(served, tmp_path,
                                                 monkeypatch):
    """A tensor larger than its storage, read from a URL, is refused as from
    a local file, naming the URL."""
    from mmvig.safe_load import CheckpointFileError, read_checkpoint
    folder, url = served
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    write_tensor_checkpoint(
        osp.join(folder, 'geometry.pth'),
        {'evil': (1, (2_000_000_000, ), (0, ))})
    with pytest.raises(CheckpointFileError) as error:
        read_checkpoint(f'{url}/geometry.pth')
    message = str(error.value)
    assert f'{url}/geometry.pth' in message and '\n' not in message
    assert '2,000,000,000 elements over a storage of 1' in message, message


@pytest.mark.parametrize('dtype,nan,error', [
    (torch.complex64, True, 'is complex'),
    (torch.complex64, False, 'is complex'),
    (torch.float8_e4m3fn, True, 'not finite'),
    (torch.float8_e5m2, True, 'not finite'),
    (torch.bfloat16, True, 'not finite'),
    (torch.float16, True, 'not finite'),
    (torch.float8_e4m3fn, False, None),
])
def test_a_weight_of_any_dtype_is_checked_by_the_backbone(dtype, nan, error):
    """Before: a complex NaN was copied into the real parameter (its
    imaginary part dropped: a run with top-1 0.0), and a float8 weight
    stopped in a 32-line NotImplementedError of torch.isfinite."""
    import mmvig
    from mmvig.errors import InputError
    from mmvig.testing import TINY
    model = mmvig.AttentionViG(TINY)
    state = model.state_dict()
    key = 'stem.0.conv.weight'
    weight = torch.zeros(state[key].shape)
    if nan:
        weight[0, 0, 0, 0] = float('nan')
    state[key] = weight.to(dtype)
    if error is None:
        model.load_state_dict(state)
        return
    with pytest.raises(InputError) as raised:
        model.load_state_dict(state)
    message = str(raised.value)
    assert error in message and key in message, message
    assert 'Traceback' not in message
