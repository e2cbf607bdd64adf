"""Shared helpers of the benchmark scripts: device, timing, peak memory in a
fresh process, backbones by name, tables and target lines."""
import argparse
import contextlib
import ctypes
import datetime
import json
import math
import os
import os.path as osp
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
COCO_CONFIG = 'configs/mask_rcnn_{}_{}_coco.py'
RESULT_PREFIX = 'RESULT '
# Process environment that keeps large tensors out of glibc's heap: every
# allocation of 4 MB or more is its own mmap (returned to the system when
# freed, so the resident set follows the live tensors instead of the heap's
# high-water mark), and PyTorch backs allocations of 2 MB or more with
# transparent huge pages (THP_MEM_ALLOC_ENABLE), so a fresh mapping costs one
# page fault per 2 MB instead of one per 4 KB.
HUGE_PAGE_ALLOCATOR = dict(
    THP_MEM_ALLOC_ENABLE='1', MALLOC_MMAP_THRESHOLD_=str(4 << 20))


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        '--device',
        default='auto',
        help="'cpu', 'cuda' or 'auto' (cuda when available)")
    p.add_argument(
        '--repeats',
        type=int,
        default=3,
        help='timed runs per measurement (the median is kept)')
    p.add_argument('--worker', help=argparse.SUPPRESS)
    return p


def device(name: str) -> torch.device:
    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    return torch.device(name)


def machine(dev: torch.device) -> str:
    if dev.type == 'cuda':
        what = torch.cuda.get_device_name(dev)
    else:
        what = f'{platform.processor() or platform.machine()} CPU, ' \
               f'{torch.get_num_threads()} threads'
    return (f'{what}; torch {torch.__version__}; '
            f'{datetime.date.today().isoformat()}')


def sync(dev: torch.device) -> None:
    if dev.type == 'cuda':
        torch.cuda.synchronize(dev)


def median_time(fn: Callable[[], object],
                dev: torch.device,
                repeats: int,
                warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(dev)
        start = time.perf_counter()
        fn()
        sync(dev)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory_gb(dev: torch.device) -> float:
    """Peak memory of this process so far: allocated CUDA memory on a GPU,
    resident set size (RSS) on the CPU."""
    if dev.type == 'cuda':
        return torch.cuda.max_memory_allocated(dev) / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


@contextlib.contextmanager
def saved_for_backward() -> Iterator[Dict[int, int]]:
    """Record what autograd saves for the backward pass inside the block, as
    ``{storage address: bytes}`` (views of one storage count once)."""
    saved: Dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield saved


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd',
                     'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost')
    ]


@contextlib.contextmanager
def malloc_in_use_peak() -> Iterator[List[float]]:
    """Peak bytes (GB, ``peak[0]``) that glibc's malloc has handed out and
    not yet taken back -- heap chunks in use plus mmapped chunks, i.e. the
    tensors and everything else the process holds, without the free space
    of the heap -- sampled after every ATen op run inside the block. The
    CPU counterpart of ``torch.cuda.max_memory_allocated``."""
    from torch.utils._python_dispatch import TorchDispatchMode
    mallinfo2 = ctypes.CDLL('libc.so.6').mallinfo2
    mallinfo2.restype = _MallInfo2
    peak = [0.]

    class Sampler(TorchDispatchMode):

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            info = mallinfo2()
            peak[0] = max(peak[0], (info.uordblks + info.hblkhd) / 1e9)
            return out

    with Sampler():
        yield peak


def report(result: dict) -> None:
    """Worker side: hand ``result`` to the parent process."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def in_fresh_process(script: str,
                     worker: str,
                     args: argparse.Namespace,
                     extra: Sequence[str] = (),
                     env: Optional[Dict[str, str]] = None) -> dict:
    """Run ``script --worker worker`` in a new interpreter (so that its peak
    memory is its own), with ``env`` added to its environment, and return
    what it reported."""
    cmd = [
        sys.executable,
        osp.abspath(script), '--worker', worker, '--device', args.device,
        '--repeats',
        str(args.repeats), *extra
    ]
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONWARNINGS='ignore', **(env or {})))
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    raise RuntimeError(f'benchmark worker {worker!r} failed:\n'
                       f'{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}')


def build_backbone(name: str) -> torch.nn.Module:
    """``resnet50`` (mmpretrain), ``pvig-<arch>`` (mmpretrain's PyramidVig),
    ``attentionvig-<s|m|b>`` or ``sagvit-<small|base>`` as the COCO config
    builds it, optionally with ``:<json of backbone overrides>``."""
    from mmpretrain.models import PyramidVig, ResNet

    import mmvig  # noqa: F401
    if name == 'resnet50':
        return ResNet(depth=50)
    if name.startswith('pvig-'):
        return PyramidVig(arch=name[len('pvig-'):], out_indices=(3, ))
    model, _, overrides = name.partition(':')
    family, _, arch = model.partition('-')
    return build_coco_backbone(family, arch, json.loads(overrides or '{}'))


def coco_backbone_cfg(family: str, arch: str) -> dict:
    """The backbone settings of ``configs/mask_rcnn_<family>_<arch>_coco.py``
    without its pretrained checkpoint and with BN (one process)."""
    from mmvig.apis import read_config
    cfg = read_config(osp.join(ROOT, COCO_CONFIG.format(family, arch)))
    backbone = cfg.model.backbone.to_dict()
    backbone.pop('init_cfg', None)
    backbone['norm_cfg'] = dict(backbone['norm_cfg'], type='BN')
    return backbone


def build_coco_backbone(family: str, arch: str,
                        overrides: Dict) -> torch.nn.Module:
    from mmvig.registry import MODELS
    cfg = coco_backbone_cfg(family, arch)
    backbone = MODELS.get(cfg.pop('type'))
    cfg.update(overrides)
    return backbone(**cfg)


def table(header: Sequence[str], rows: List[Sequence]) -> str:
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [
        '| ' + ' | '.join(c.ljust(w) for c, w in zip(r, widths)) + ' |'
        for r in cells
    ]
    lines.insert(1, '|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    return '\n'.join(lines)


def target(description: str,
           value: float,
           bound: float,
           at_most: bool = True) -> bool:
    met = value <= bound if at_most else value >= bound
    relation = '<=' if at_most else '>='
    print(f'target: {description}: {value:.3g} {relation} {bound:g} -> '
          f'{"met" if met else "NOT MET"}')
    return met


def fitted_exponent(pixels: Sequence[float],
                    seconds: Sequence[float]) -> float:
    """The least-squares slope of log(seconds) over log(pixels): the
    exponent of a power law ``seconds = c * pixels**exponent``."""
    xs = [math.log(p) for p in pixels]
    ys = [math.log(s) for s in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum(
        (x - mx)**2 for x in xs)
