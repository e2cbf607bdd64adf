"""Assemble a CUDA toolkit for building mmcv's CUDA ops from the package
registry's CUDA wheels, where the machine has a driver (or no GPU at all)
but no system toolkit.

    python tools/misc/cuda_toolchain.py --cuda 13.0 --dest ~/.cache/mmvig/cuda
    # prints the CUDA_HOME to build with

The wheels that hold nvcc, its front end, NVVM, the C++ core libraries and
the runtime headers are installed (``pip install --target``) at the release
that matches torch's CUDA (``torch.version.cuda``), once per CUDA version;
their ``nvidia/<package>/`` trees are joined by hard links into one
``home/`` with the layout nvcc and ``torch.utils.cpp_extension`` expect
(``bin/nvcc`` beside its ``nvcc.profile``, ``include``, ``lib64``,
``nvvm``). The headers of the CUDA libraries torch itself depends on
(cuBLAS, cuSPARSE, cuSOLVER ... ; ``ATen/cuda/CUDAContext.h`` includes
them) come from the wheels torch installed: :func:`torch_cuda_include_dirs`
lists them for ``CPATH``.
"""
import argparse
import os
import os.path as osp
import shutil
import subprocess
import sys
from typing import Dict, List

# CUDA major -> the registry's toolchain wheels (name, version pattern).
# CUDA 13 wheels share one prefix (nvidia/cu13/); CUDA 12 wheels each have
# their own folder (nvidia/cuda_nvcc/, nvidia/cuda_runtime/, ...).
TOOLCHAIN_WHEELS: Dict[int, List[str]] = {
    13: [
        'nvidia-cuda-nvcc', 'nvidia-cuda-crt', 'nvidia-nvvm',
        'nvidia-cuda-cccl', 'nvidia-cuda-runtime'
    ],
    12: [
        'nvidia-cuda-nvcc-cu12', 'nvidia-cuda-cccl-cu12',
        'nvidia-cuda-runtime-cu12'
    ],
}
_HOME_PARTS = ('bin', 'include', 'lib', 'nvvm')


def requirements(cuda: str) -> List[str]:
    """The pip requirements of the toolchain for CUDA ``major.minor``."""
    major, minor = (int(x) for x in cuda.split('.')[:2])
    if major not in TOOLCHAIN_WHEELS:
        raise SystemExit(
            f'error: no registry toolchain known for CUDA {cuda} (CUDA '
            f'{sorted(TOOLCHAIN_WHEELS)} are); install a CUDA {cuda} toolkit '
            'and set CUDA_HOME')
    return [f'{name}=={major}.{minor}.*' for name in TOOLCHAIN_WHEELS[major]]


def _package_roots(site: str) -> List[str]:
    root = osp.join(site, 'nvidia')
    if not osp.isdir(root):
        return []
    return [
        osp.join(root, name) for name in sorted(os.listdir(root))
        if osp.isdir(osp.join(root, name))
    ]


def _link_tree(src: str, dst: str) -> None:
    """Hard-link ``src`` into ``dst`` (files the first package gave win)."""
    for parent, dirs, files in os.walk(src):
        rel = osp.relpath(parent, src)
        os.makedirs(osp.join(dst, rel), exist_ok=True)
        for name in files:
            target = osp.join(dst, rel, name)
            source = osp.join(parent, name)
            if osp.lexists(target):
                continue
            if osp.islink(source):
                os.symlink(os.readlink(source), target)
            else:
                try:
                    os.link(source, target)
                except OSError:
                    shutil.copy2(source, target)


def join_home(site: str, home: str) -> str:
    """One CUDA_HOME from the wheels installed under ``site``."""
    tmp = home + '.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    for package in _package_roots(site):
        for part in _HOME_PARTS:
            if osp.isdir(osp.join(package, part)):
                _link_tree(osp.join(package, part), osp.join(tmp, part))
    lib = osp.join(tmp, 'lib')
    os.makedirs(lib, exist_ok=True)
    # the wheels carry libcudart.so.<major> only; the linker wants the name
    for name in sorted(os.listdir(lib)):
        if name.startswith('libcudart.so.') and \
                not osp.lexists(osp.join(lib, 'libcudart.so')):
            os.symlink(name, osp.join(lib, 'libcudart.so'))
    os.symlink('lib', osp.join(tmp, 'lib64'))
    if not osp.isfile(osp.join(tmp, 'bin', 'nvcc')):
        raise SystemExit(f'error: the wheels under {site} hold no bin/nvcc')
    shutil.rmtree(home, ignore_errors=True)
    os.rename(tmp, home)
    return home


def torch_cuda_include_dirs() -> List[str]:
    """Include folders of the CUDA library wheels torch was installed with
    (for ``CPATH``): the headers torch's own CUDA headers include."""
    import torch
    site = osp.dirname(osp.dirname(torch.__file__))
    return [
        osp.join(p, 'include') for p in _package_roots(site)
        if osp.isdir(osp.join(p, 'include'))
    ]


def nvcc_version(nvcc: str) -> str:
    """``major.minor`` of an nvcc binary ('' when it does not run)."""
    try:
        out = subprocess.run([nvcc, '--version'],
                             capture_output=True,
                             text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ''
    for word in out.replace(',', ' ').split():
        if word[:1].isdigit() and word.count('.') == 1 and \
                'release' in out:
            return word
    return ''


def assemble(cuda: str, dest: str, installer: List[str]) -> str:
    """Install the toolchain wheels for ``cuda`` under ``dest/<cuda>/`` (once)
    and return the joined CUDA_HOME."""
    root = osp.join(osp.expanduser(dest), cuda)
    home = osp.join(root, 'home')
    if osp.isfile(osp.join(home, 'bin', 'nvcc')) and \
            nvcc_version(osp.join(home, 'bin', 'nvcc')) == cuda:
        return home
    site = osp.join(root, 'site')
    shutil.rmtree(site, ignore_errors=True)
    subprocess.run(
        installer + ['--target', site] + requirements(cuda), check=True)
    join_home(site, home)
    found = nvcc_version(osp.join(home, 'bin', 'nvcc'))
    if found != cuda:
        raise SystemExit(f'error: the assembled nvcc is CUDA {found or "?"}, '
                         f'not {cuda}')
    return home


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--cuda', required=True, help="CUDA major.minor (torch.version.cuda)")
    parser.add_argument(
        '--dest',
        required=True,
        help='cache folder; the toolkit goes to DEST/<cuda>/')
    parser.add_argument(
        '--installer',
        default=f'{sys.executable} -m pip install -q',
        help='the install command (--target and the wheels are appended)')
    parser.add_argument(
        '--include-dirs',
        action='store_true',
        help="print torch's CUDA library include folders "
        '(for CPATH) instead')
    args = parser.parse_args(argv)
    if args.include_dirs:
        print(os.pathsep.join(torch_cuda_include_dirs()))
        return 0
    print(assemble(args.cuda, args.dest, args.installer.split()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
