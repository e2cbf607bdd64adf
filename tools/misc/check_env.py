"""What stands between this machine and training mmvig on its GPUs, one line
per check, with the fix for each failure.

    python tools/misc/check_env.py            # every check
    python tools/misc/check_env.py --verbose  # and mmengine's collect_env

Checks: the NVIDIA driver and GPUs (``nvidia-smi``); torch's CUDA against the
driver; torch sees the GPUs and carries a kernel for each one's
architecture; mmcv 2.1.0 with its compiled ops, built with CUDA, and
RoIAlign + NMS on CUDA tensors (what Mask R-CNN runs); Triton and the C
compiler its launcher needs; the SVGA Triton kernel compiled for each GPU's
architecture; NCCL for ``dist_train.sh``; the OpenMMLab libraries.

Exit status 1 when training on this machine's GPUs cannot work. A machine
without an NVIDIA driver is a CPU machine: it says so, checks what the CPU
runs, and passes.

``--preflight`` (the driver and GPUs against the registry's torch, before
torch is installed: needs no torch), ``--torch-only`` (the driver, GPUs
and torch) and ``--stack-only`` (one OpenMMLab stack, upstream or OneDL, in
the versions mmvig supports) are the checks ``tools/setup_env.sh`` runs.
"""
import argparse
import os
import shutil
import subprocess
import sys
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

# The torch the setup script installs from the package registry.
REGISTRY_TORCH = '2.13.0'
REGISTRY_CUDA = '13.0'
REGISTRY_ARCHS = ('sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120')
TORCH_INDEX = 'https://download.pytorch.org/whl'
# The oldest Linux driver of each CUDA major (CUDA's minor version
# compatibility: any 12.x runs on >= 525.60.13, any 13.x on >= 580).
MIN_DRIVER = {11: (450, 80), 12: (525, 60), 13: (580, 0)}
# mmcv 2.1.0 compiles with -std=c++17; torch 2.14's headers need C++20.
MMCV_VERSION = '2.1.0'
MMCV_TORCH_RANGE = ((2, 0), (2, 14))
GPU_NAMES = {
    (7, 0): 'V100',
    (7, 5): 'T4',
    (8, 0): 'A100',
    (8, 6): 'A10',
    (8, 9): 'L40',
    (9, 0): 'H100/H200',
    (10, 0): 'B200',
    (12, 0): 'RTX 50'
}


class Gpu(NamedTuple):
    index: int
    name: str
    capability: Tuple[int, int]

    @property
    def sm(self) -> str:
        return f'sm_{self.capability[0]}{self.capability[1]}'


class Check(NamedTuple):
    """One line of the report: ``status`` is 'ok', 'FAIL', 'warn' or
    'skip'; ``fix`` says what to do for a FAIL or warn."""
    name: str
    status: str
    detail: str
    fix: str = ''


def _version(text: str) -> Tuple[int, ...]:
    parts = []
    for part in text.split('+')[0].split('.'):
        digits = ''.join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def read_driver() -> Tuple[Optional[str], List[Gpu], str]:
    """The driver version and GPUs ``nvidia-smi`` reports: (None, [], why)
    on a machine without it."""
    smi = shutil.which('nvidia-smi')
    if smi is None:
        return None, [], 'no nvidia-smi on PATH'
    try:
        out = subprocess.run([
            smi, '--query-gpu=index,name,driver_version,compute_cap',
            '--format=csv,noheader'
        ],
                             capture_output=True,
                             text=True,
                             timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        return None, [], f'nvidia-smi failed: {error}'
    if out.returncode != 0:
        return None, [], ('nvidia-smi failed: ' + ' '.join(
            (out.stdout + out.stderr).split())[:200])
    driver, gpus = None, []
    for line in out.stdout.strip().splitlines():
        fields = [f.strip() for f in line.split(',')]
        if len(fields) != 4:
            continue
        index, name, driver, cap = fields
        major, _, minor = cap.partition('.')
        gpus.append(Gpu(int(index), name, (int(major), int(minor or 0))))
    return driver, gpus, ''


def arch_supported(capability: Tuple[int, int], archs: List[str]) -> bool:
    """Whether a build with ``archs`` (torch's arch list) runs on a GPU of
    ``capability``: a cubin of the same major and an equal or lower minor,
    or PTX of an equal or lower architecture."""
    major, minor = capability
    for arch in archs:
        kind, _, number = arch.partition('_')
        if not number.isdigit():
            continue
        arch_major, arch_minor = int(number[:-1]), int(number[-1])
        if kind == 'sm' and arch_major == major and arch_minor <= minor:
            return True
        if kind == 'compute' and (arch_major, arch_minor) <= capability:
            return True
    return False


def _gpu_label(gpus: List[Gpu]) -> str:
    return ', '.join(f'{g.index}: {g.name} ({g.sm})' for g in gpus)


def _advice(driver: Tuple[int, ...], gpus: List[Gpu]) -> str:
    """Which torch build runs on this node, and how to install it."""
    old_gpus = [g for g in gpus if g.capability < (7, 5)]
    if driver < MIN_DRIVER[12]:
        return ('update the NVIDIA driver to >= 580 (CUDA 13, the default '
                'torch) or >= 525.60 (CUDA 12 builds); no torch 2.13 build '
                'runs on this driver')
    if any(g.capability < (5, 0) for g in gpus):
        return 'these GPUs are older than any torch 2.13 build supports'
    keep = ('or keep the torch your cluster provides: MMVIG_TORCH=keep bash '
            'tools/setup_env.sh (after loading its module)')
    cu126 = (f'TORCH_INDEX_URL={TORCH_INDEX}/cu126 bash tools/setup_env.sh '
             '(the CUDA 12.6 build: drivers >= 525.60, GPUs sm_50 to sm_90, '
             'V100 included)')
    if old_gpus:
        return f'install the CUDA 12.6 build of torch: {cu126}, {keep}'
    return (f'install a CUDA 12 build of torch: {cu126}, or '
            f'TORCH_INDEX_URL={TORCH_INDEX}/cu128 for CUDA 12.8 (drivers '
            f'>= 525.60, GPUs sm_75 to sm_120), {keep}; or update the driver '
            'to >= 580')


def check_driver(driver: Optional[str], gpus: List[Gpu],
                 why: str) -> List[Check]:
    if driver is None:
        return [
            Check(
                'NVIDIA driver', 'skip',
                f'none ({why}): a CPU machine, training runs on the '
                'CPU and the GPU checks are skipped')
        ]
    if not gpus:
        return [
            Check(
                'NVIDIA driver', 'FAIL', f'{driver}, but no GPU listed',
                'nvidia-smi sees no GPU: check CUDA_VISIBLE_DEVICES and '
                "the node's GPU allocation")
        ]
    return [Check('NVIDIA driver', 'ok', f'{driver}; GPUs {_gpu_label(gpus)}')]


def check_registry_torch(driver: Optional[str],
                         gpus: List[Gpu]) -> List[Check]:
    """Whether the registry's torch (CUDA 13.0) runs on this node, before
    it is installed."""
    if driver is None:
        return []
    version = _version(driver)
    name = f'torch {REGISTRY_TORCH} (CUDA {REGISTRY_CUDA}) on this node'
    problems = []
    if version < MIN_DRIVER[13]:
        problems.append(f'driver {driver} is older than 580, which CUDA '
                        f'{REGISTRY_CUDA} needs')
    unsupported = [
        g for g in gpus
        if not arch_supported(g.capability, list(REGISTRY_ARCHS))
    ]
    if unsupported:
        problems.append(
            f'GPU {_gpu_label(unsupported)} is not among the build\'s '
            f'architectures ({" ".join(REGISTRY_ARCHS)})')
    if not problems:
        return [
            Check(
                name, 'ok', f'driver {driver} and GPUs '
                f'{", ".join(sorted({g.sm for g in gpus}))} fit')
        ]
    return [Check(name, 'FAIL', '; '.join(problems), _advice(version, gpus))]


class TorchFacts(NamedTuple):
    version: str
    cuda: Optional[str]
    available: bool
    device_count: int
    archs: List[str]
    nccl: Optional[str]


def read_torch() -> Optional[TorchFacts]:
    try:
        import torch
    except ImportError:
        return None
    nccl = None
    if torch.distributed.is_available() and \
            torch.distributed.is_nccl_available():
        try:
            nccl = '.'.join(map(str, torch.cuda.nccl.version()))
        except Exception:  # noqa: BLE001 -- reported as missing below
            nccl = None
    available = torch.cuda.is_available()
    return TorchFacts(torch.__version__, torch.version.cuda, available,
                      torch.cuda.device_count() if available else 0,
                      torch.cuda.get_arch_list() if torch.version.cuda else [],
                      nccl)


def check_torch(facts: Optional[TorchFacts], driver: Optional[str],
                gpus: List[Gpu]) -> List[Check]:
    if facts is None:
        return [
            Check('torch', 'FAIL', 'not importable',
                  'run bash tools/setup_env.sh')
        ]
    checks = []
    low, high = MMCV_TORCH_RANGE
    version = _version(facts.version)
    if not low <= version[:2] < high:
        checks.append(
            Check(
                'torch', 'FAIL',
                f'{facts.version}: mmcv {MMCV_VERSION} builds '
                f'against torch >= {low[0]}.{low[1]}, '
                f'< {high[0]}.{high[1]} only',
                f'install torch {REGISTRY_TORCH} (bash tools/setup_env.sh)'))
    else:
        checks.append(
            Check(
                'torch', 'ok', f'{facts.version}, CUDA '
                f'{facts.cuda or "none (a CPU build)"}'))
    if driver is None:
        return checks
    if not facts.cuda:
        return checks + [
            Check(
                'torch CUDA build', 'FAIL',
                f'torch {facts.version} is a CPU build '
                'on a machine with GPUs', 'reinstall: bash tools/setup_env.sh '
                '(or TORCH_INDEX_URL=... for another CUDA build)')
        ]
    cuda_major = _version(facts.cuda)[0]
    need = MIN_DRIVER.get(cuda_major)
    if need and _version(driver) < need:
        checks.append(
            Check(
                'torch CUDA vs driver', 'FAIL',
                f'torch is built for CUDA {facts.cuda}, which needs driver >= '
                f'{need[0]}, this node has {driver}',
                _advice(_version(driver), gpus)))
    else:
        checks.append(
            Check('torch CUDA vs driver', 'ok',
                  f'CUDA {facts.cuda} on driver {driver}'))
    if not facts.available:
        checks.append(
            Check(
                'torch sees the GPUs', 'FAIL',
                f'torch.cuda.is_available() is False with driver {driver}',
                'a driver too old for torch\'s CUDA (above), '
                'CUDA_VISIBLE_DEVICES set to nothing, or a container without '
                'the GPU devices'))
    else:
        checks.append(
            Check('torch sees the GPUs', 'ok', f'{facts.device_count} GPU(s)'))
    unsupported = [
        g for g in gpus if not arch_supported(g.capability, facts.archs)
    ]
    if unsupported:
        checks.append(
            Check(
                'torch kernels for the GPUs', 'FAIL',
                f'torch was built for {" ".join(facts.archs)}, not for '
                f'{_gpu_label(unsupported)}', _advice(_version(driver), gpus)))
    else:
        checks.append(
            Check('torch kernels for the GPUs', 'ok', ' '.join(facts.archs)))
    return checks


class MmcvFacts(NamedTuple):
    version: Optional[str]
    ops: bool
    cuda_ops: Optional[str]  # the CUDA mmcv's ops were compiled with
    error: str


def read_mmcv() -> MmcvFacts:
    try:
        import mmcv
    except ImportError as error:
        return MmcvFacts(None, False, None, str(error))
    try:
        from mmcv.ops import get_compiling_cuda_version
        cuda = get_compiling_cuda_version()
    except Exception as error:  # noqa: BLE001 -- any failure: no ops
        return MmcvFacts(mmcv.__version__, False, None,
                         ' '.join(str(error).split())[:200])
    return MmcvFacts(mmcv.__version__, True,
                     None if cuda == 'not available' else cuda, '')


def check_mmcv(facts: MmcvFacts, gpu: bool,
               torch_cuda: Optional[str]) -> List[Check]:
    if facts.version is None:
        return [
            Check('mmcv', 'FAIL', f'not importable ({facts.error})',
                  'run bash tools/setup_env.sh')
        ]
    if not facts.ops:
        return [
            Check(
                'mmcv ops', 'FAIL',
                f'mmcv {facts.version} without compiled ops '
                f'({facts.error})', 'rebuild it with its ops: '
                'bash tools/setup_env.sh')
        ]
    checks = [
        Check(
            'mmcv ops', 'ok', f'mmcv {facts.version} with compiled '
            f'ops (CUDA: {facts.cuda_ops or "none"})')
    ]
    if not gpu:
        return checks
    if facts.cuda_ops is None:
        checks.append(
            Check(
                'mmcv CUDA ops', 'FAIL',
                'mmcv was built without CUDA ops: the '
                'first RoIAlign on a GPU tensor fails inside mmdet',
                'rebuild it on this node: bash tools/setup_env.sh (it '
                'compiles the CUDA ops for the visible GPUs)'))
    elif torch_cuda and _version(facts.cuda_ops)[:1] != \
            _version(torch_cuda)[:1]:
        checks.append(
            Check(
                'mmcv CUDA ops', 'FAIL',
                f'compiled with CUDA {facts.cuda_ops}, '
                f'torch has CUDA {torch_cuda}',
                'rebuild it for this torch: bash '
                'tools/setup_env.sh'))
    else:
        checks.append(
            Check('mmcv CUDA ops', 'ok',
                  f'compiled with CUDA {facts.cuda_ops}'))
    return checks


def run_mmcv_cuda_ops() -> Check:
    """RoIAlign and NMS on CUDA tensors against the same ops on the CPU."""
    import torch
    from mmcv.ops import nms, roi_align
    try:
        feats = torch.randn(1, 8, 32, 32)
        rois = torch.tensor([[0, 2., 3., 20., 25.], [0, 0., 0., 31., 31.]])
        boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11],
                              [20, 20, 30, 30.]])
        scores = torch.tensor([0.9, 0.8, 0.7])
        cpu = roi_align(feats, rois, (7, 7), 0.5, 2, 'avg', True)
        gpu = roi_align(feats.cuda(), rois.cuda(), (7, 7), 0.5, 2, 'avg',
                        True).cpu()
        _, keep_cpu = nms(boxes, scores, 0.5)
        _, keep_gpu = nms(boxes.cuda(), scores.cuda(), 0.5)
        torch.cuda.synchronize()
    except Exception as error:  # noqa: BLE001 -- reported with its words
        return Check('RoIAlign + NMS on a GPU', 'FAIL',
                     ' '.join(str(error).split())[:300],
                     'rebuild mmcv for this GPU: bash tools/setup_env.sh')
    if not torch.allclose(cpu, gpu, atol=1e-4) or \
            keep_cpu.tolist() != keep_gpu.cpu().tolist():
        return Check('RoIAlign + NMS on a GPU', 'FAIL',
                     'the CUDA results differ from the CPU results',
                     'rebuild mmcv for this GPU: bash tools/setup_env.sh')
    return Check('RoIAlign + NMS on a GPU', 'ok', 'agree with the CPU ops')


def find_c_compiler() -> Optional[str]:
    """The C compiler Triton's launcher is built with (Triton takes ``CC``,
    then ``cc``, ``gcc``, ``clang`` from PATH)."""
    cc = os.environ.get('CC')
    if cc:
        return shutil.which(cc)
    for name in ('cc', 'gcc', 'clang'):
        found = shutil.which(name)
        if found:
            return found
    return None


def check_triton(gpus: List[Gpu], compiler: Optional[str]) -> List[Check]:
    try:
        import triton
    except ImportError:
        status = 'FAIL' if gpus else 'warn'
        return [
            Check(
                'Triton', status, 'not installed: the SVGA aggregation '
                'runs its PyTorch path on the GPU (slower)',
                'pip install triton (torch installs the version it '
                'supports)')
        ]
    checks = [Check('Triton', 'ok', triton.__version__)]
    if compiler is None:
        checks.append(
            Check(
                'C compiler for Triton', 'FAIL' if gpus else 'warn',
                'none (CC unset or not found; no cc, gcc or clang on PATH): '
                "Triton cannot build its launcher, and mmvig's SVGA kernels "
                'fall back to PyTorch with a warning',
                'install gcc (apt-get install '
                'gcc, or load the compiler module) or set CC'))
    else:
        checks.append(Check('C compiler for Triton', 'ok', compiler))
    return checks


def compile_svga_kernel(arch: int) -> Check:
    """The SVGA Triton forward kernel compiled ahead of time for
    ``sm_<arch>`` (no GPU needed)."""
    name = f'SVGA Triton kernel for sm_{arch}'
    try:
        from mmvig.ops.svga_attention import triton_kernels as kernels
        from mmvig.ops.svga_graph import svga_shifts
        from mmvig.ops.triton_aot import compile_launch, launch_arguments
        launch = kernels.launches((1, 8, 8, 14, 14),
                                  svga_shifts(14, 14, 2),
                                  'none',
                                  backward=False)[0]
        compiled = compile_launch(launch.kernel, launch_arguments(launch),
                                  arch)
    except Exception as error:  # noqa: BLE001 -- reported with its words
        return Check(
            name, 'FAIL', ' '.join(str(error).split())[:300],
            'Triton cannot compile for this GPU: install the '
            "Triton version torch pins (pip install torch's triton);"
            ' the SVGA aggregation falls back to PyTorch meanwhile')
    return Check(
        name, 'ok', f'{compiled.metadata.num_warps} warps, '
        f'{compiled.metadata.shared} B shared memory')


def check_nccl(facts: Optional[TorchFacts], gpus: List[Gpu]) -> List[Check]:
    if not gpus or facts is None:
        return []
    if facts.nccl is None:
        return [
            Check('NCCL', 'FAIL', 'torch has no NCCL: dist_train.sh on '
                  'GPUs needs it', 'install a CUDA build of torch (bash '
                  'tools/setup_env.sh)')
        ]
    return [Check('NCCL', 'ok', facts.nccl)]


def _stack_module():
    """mmvig/stack.py, read without importing mmvig (whose import stops at
    an unsupported version: this check reports it instead)."""
    import importlib.util
    path = os.path.join(
        os.path.dirname(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        'mmvig', 'stack.py')
    spec = importlib.util.spec_from_file_location('_mmvig_stack', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_stack(found=None) -> List[Check]:
    """Which OpenMMLab stack is installed (upstream or the OneDL fork), and
    whether mmvig supports it: one stack, each version in its range."""
    stack = _stack_module()
    found = stack.providers() if found is None else found
    problems = stack.version_problems(found)
    mixed = stack.mixed_stack_problem(found)
    which = stack.installed_stack(found)
    detail = ', '.join(f'{p.dist} {p.version}' for p in found) or 'none'
    if which == 'none':
        return [
            Check(
                'OpenMMLab stack', 'FAIL', 'no mmcv, mmengine, mmdet, '
                'mmseg or mmpretrain installed', 'run bash '
                'tools/setup_env.sh (or MMVIG_STACK=onedl bash '
                'tools/setup_env.sh)')
        ]
    if mixed:
        detail, fix = mixed.split(': ', 1)
        return [Check('OpenMMLab stack', 'FAIL', detail, fix)]
    if problems:
        return [
            Check('OpenMMLab stack', 'FAIL', f'{which}: {detail}',
                  '; '.join(problems))
        ]
    return [Check('OpenMMLab stack', 'ok', f'{which}: {detail}')]


def check_libraries() -> List[Check]:
    checks = []
    for module, name in (('mmengine', 'mmengine'), ('mmdet', 'mmdet'),
                         ('mmseg', 'mmsegmentation'), ('mmpretrain',
                                                       'mmpretrain'),
                         ('timm', 'timm'), ('mmvig', 'mmvig')):
        try:
            version = __import__(module).__version__
        except Exception as error:  # noqa: BLE001 -- any import failure
            checks.append(
                Check(
                    name, 'FAIL',
                    ' '.join(f'{type(error).__name__}: {error}'.split())[:200],
                    'run bash tools/setup_env.sh'))
        else:
            checks.append(Check(name, 'ok', version))
    return checks


def report(checks: List[Check], out=sys.stdout) -> int:
    """Print one line per check (and its fix); 1 when any check failed."""
    width = max(len(c.name) for c in checks)
    for check in checks:
        print(
            f'{check.status:<4}  {check.name:<{width}}  {check.detail}',
            file=out)
        if check.fix and check.status in ('FAIL', 'warn'):
            print(f'{"":<4}  {"":<{width}}  fix: {check.fix}', file=out)
    failed = [c.name for c in checks if c.status == 'FAIL']
    if failed:
        print(
            f'\nnot ready: {len(failed)} check(s) failed '
            f'({", ".join(failed)})',
            file=out)
        return 1
    return 0


def collect(probes: Dict[str, Callable],
            preflight: bool = False,
            torch_only: bool = False) -> List[Check]:
    """Every check, from the facts ``probes`` read (each a zero-argument
    callable: ``driver``, ``torch``, ``mmcv``, ``compiler``, and the GPU
    runs ``cuda_ops`` and ``svga_kernel``); tests pass simulated ones."""
    driver, gpus, why = probes['driver']()
    checks = check_driver(driver, gpus, why)
    if preflight:
        return checks + check_registry_torch(driver, gpus)
    torch_facts = probes['torch']()
    checks += check_torch(torch_facts, driver, gpus)
    if torch_only:
        return checks
    gpu = driver is not None and bool(gpus)
    mmcv_checks = check_mmcv(probes['mmcv'](), gpu,
                             torch_facts.cuda if torch_facts else None)
    checks += mmcv_checks
    usable = gpu and torch_facts is not None and torch_facts.available
    if usable and all(c.status == 'ok' for c in mmcv_checks):
        checks.append(probes['cuda_ops']())
    triton_checks = check_triton(gpus if gpu else [], probes['compiler']())
    checks += triton_checks
    if gpu and triton_checks[0].status == 'ok':
        for arch in sorted(
            {g.capability[0] * 10 + g.capability[1]
             for g in gpus}):
            checks.append(probes['svga_kernel'](arch))
    checks += check_nccl(torch_facts, gpus if gpu else [])
    checks += probes['stack']() + probes['libraries']()
    if not gpu:
        checks.append(
            Check(
                'verdict', 'ok', 'a CPU machine: mmvig trains '
                'and tests on the CPU; run this on a GPU node '
                'to check the GPU stack'))
    return checks


PROBES = dict(
    driver=read_driver,
    torch=read_torch,
    mmcv=read_mmcv,
    compiler=find_c_compiler,
    cuda_ops=run_mmcv_cuda_ops,
    svga_kernel=compile_svga_kernel,
    stack=check_stack,
    libraries=check_libraries)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--preflight',
        action='store_true',
        help="the driver and GPUs against the registry's torch "
        '(needs no torch)')
    group.add_argument(
        '--torch-only',
        action='store_true',
        help='the driver, GPUs and the installed torch')
    group.add_argument(
        '--stack-only',
        action='store_true',
        help='the installed OpenMMLab stack (upstream or OneDL): one '
        'stack, in the versions mmvig supports')
    parser.add_argument(
        '--verbose',
        action='store_true',
        help="print mmengine's collect_env first")
    args = parser.parse_args(argv)
    if args.verbose:
        from mmengine.utils.dl_utils import collect_env
        for key, value in collect_env().items():
            print(f'{key}: {value}')
        print()
    if args.stack_only:
        return report(check_stack())
    return report(collect(PROBES, args.preflight, args.torch_only))


if __name__ == '__main__':
    sys.exit(main())
