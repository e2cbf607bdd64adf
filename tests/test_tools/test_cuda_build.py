"""The GPU build without a GPU or a system CUDA toolkit: the registry's CUDA
compiler wheels, assembled as tools/setup_env.sh assembles them, compile the
mmcv CUDA ops that Mask R-CNN and Semantic FPN call (found by running them,
tools/dev/mmcv_ops_used.py) for sm_80, with the flags of mmcv's own build
(its setup.py writes the ninja file; the test builds those objects)."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import tarfile
import textwrap

import pytest
import torch

from mmvig.testing import REPO_ROOT

CACHE = os.environ.get('MMVIG_CACHE') or osp.join(
    os.environ.get('XDG_CACHE_HOME') or osp.expanduser('~/.cache'), 'mmvig')
BIN = osp.dirname(sys.executable)


def _run(args, **kwargs):
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=3000, **kwargs)
    assert result.returncode == 0, (args, result.stdout[-3000:],
                                    result.stderr[-3000:])
    return result.stdout


def _ninja_file(source_dir: str, env: dict) -> str:
    """mmcv's setup.py as ``pip wheel`` runs it, stopped where torch would
    run ninja: returns the build.ninja it wrote."""
    script = textwrap.dedent("""
        import sys
        import torch.utils.cpp_extension as ce
        class Stop(Exception):
            pass
        def stop(build_directory, *args, **kwargs):
            print('BUILD_DIR=' + build_directory)
            raise Stop
        ce._run_ninja_build = stop
        sys.argv = ['setup.py', 'build_ext']
        try:
            exec(compile(open('setup.py').read(), 'setup.py', 'exec'))
        except Stop:
            pass
        """)
    out = _run([sys.executable, '-c', script], cwd=source_dir, env=env)
    build_dir = [
        line.split('=', 1)[1] for line in out.splitlines()
        if line.startswith('BUILD_DIR=')
    ][-1]
    return osp.join(build_dir, 'build.ninja')


@pytest.mark.slow
def test_registry_toolchain_compiles_the_detection_ops_for_sm80(tmp_path):
    _run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'dev', 'mmcv_ops_used.py'), '--out',
        str(tmp_path / 'ops.json')
    ],
         cwd=REPO_ROOT)
    used = json.loads((tmp_path / 'ops.json').read_text())
    assert {'nms', 'roi_align_forward'} <= set(used['mask_rcnn'])
    sources = sorted(set(used['cuda_sources'].values()))
    assert 'roi_align_cuda.cu' in sources and 'nms_cuda.cu' in sources

    cuda = torch.version.cuda
    installer = f'{BIN}/uv pip install -q --python {sys.executable}'
    tool = osp.join(REPO_ROOT, 'tools', 'misc', 'cuda_toolchain.py')
    home = _run([
        sys.executable, tool, '--cuda', cuda, '--dest',
        osp.join(CACHE, 'cuda'), '--installer', installer
    ]).strip().splitlines()[-1]
    includes = _run([
        sys.executable, tool, '--cuda', cuda, '--dest', '-', '--include-dirs'
    ]).strip()
    assert osp.isfile(osp.join(home, 'bin', 'nvcc'))

    _run([
        sys.executable, '-m', 'pip', 'download', '-q', '--no-deps',
        '--no-binary', 'mmcv', '--no-build-isolation', '-d',
        str(tmp_path), 'mmcv==2.1.0'
    ],
         env=dict(os.environ, PIP_FIND_LINKS=''))
    with tarfile.open(glob.glob(str(tmp_path / 'mmcv-2.1.0.tar.gz'))[0]) as t:
        t.extractall(tmp_path, filter='data')
    source_dir = str(tmp_path / 'mmcv-2.1.0')
    # the environment tools/setup_env.sh builds mmcv with
    env = dict(
        os.environ,
        MMCV_WITH_OPS='1',
        FORCE_CUDA='1',
        TORCH_CUDA_ARCH_LIST='8.0',
        CUDA_HOME=home,
        CPATH=includes,
        MAX_JOBS='2',
        PATH=f'{BIN}:{os.environ["PATH"]}')
    ninja_file = _ninja_file(source_dir, env)
    rules = open(ninja_file).read()
    assert '-gencode=arch=compute_80,code=sm_80' in rules
    targets = []
    for line in rules.splitlines():
        if line.startswith('build ') and any(
                line.rstrip().endswith(f'/cuda/{name}')
                for name in sources + ['cudabind.cpp']):
            targets.append(line[len('build '):].split(':')[0].strip())
    assert len(targets) == len(sources) + 1, targets
    _run(
        [osp.join(BIN, 'ninja'), '-f', ninja_file] + targets,
        env=env,
        cwd=osp.dirname(ninja_file))
    import triton
    cuobjdump = osp.join(
        osp.dirname(triton.__file__), 'backends', 'nvidia', 'bin', 'cuobjdump')
    for target in targets:
        assert osp.getsize(target) > 0
        if target.endswith('_cuda.o'):
            listing = _run([cuobjdump, '--list-elf', target])
            assert 'sm_80' in listing, listing
