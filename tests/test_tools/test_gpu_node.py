"""A GPU node as a user meets it, proven on a CPU machine: the setup stops a
driver or GPU the torch build does not fit with the build that does,
check_env.py names each fault with its fix (faults simulated: a fake
nvidia-smi, probes that report a missing piece), the registry's CUDA wheels
join into one toolkit, and the acceptance script's dry run passes."""
import os
import os.path as osp
import sys

import pytest

from mmvig.testing import REPO_ROOT, run_in_checkout, run_python

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'misc'))
import check_env  # noqa: E402
import cuda_toolchain  # noqa: E402

CHECK_ENV = osp.join(REPO_ROOT, 'tools', 'misc', 'check_env.py')


def fake_nvidia_smi(tmp_path, *gpus):
    """A folder holding an ``nvidia-smi`` that lists ``gpus`` as
    (name, driver, compute capability)."""
    folder = tmp_path / 'fake_bin'
    folder.mkdir(exist_ok=True)
    lines = ''.join(f'echo "{i}, {name}, {driver}, {cap}"\n'
                    for i, (name, driver, cap) in enumerate(gpus))
    (folder / 'nvidia-smi').write_text('#!/bin/sh\n' + lines)
    (folder / 'nvidia-smi').chmod(0o755)
    return str(folder)


V100 = ('Tesla V100-SXM2-32GB', '535.104.05', '7.0')
A100_OLD_DRIVER = ('NVIDIA A100-SXM4-80GB', '535.183.01', '8.0')
H100 = ('NVIDIA H100 80GB HBM3', '580.95.05', '9.0')
V100_NEW_DRIVER = ('Tesla V100-SXM2-32GB', '580.95.05', '7.0')


@pytest.mark.long
def test_check_env_passes_on_this_cpu_machine():
    result = run_python(CHECK_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'a CPU machine' in result.stdout
    assert 'FAIL' not in result.stdout


@pytest.mark.parametrize('gpu, expected', [
    (A100_OLD_DRIVER, 'TORCH_INDEX_URL=https://download.pytorch.org/whl/'
     'cu126'),
    (V100, 'V100 included'),
    (V100_NEW_DRIVER, 'sm_70'),
])
def test_setup_stops_a_node_the_registry_torch_does_not_fit(
        gpu, expected, tmp_path):
    """Before anything is installed (no venv is touched: the check runs
    first), with the build that fits and how to install it."""
    result = run_in_checkout(['bash', 'tools/setup_env.sh'],
                             path_first=fake_nvidia_smi(tmp_path, gpu, gpu))
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert 'FAIL' in out and expected in out, out
    assert 'MMVIG_TORCH=keep' in out
    assert 'installing' not in out and 'creating' not in out


def test_setup_refuses_an_unknown_torch_choice():
    result = run_in_checkout(['bash', 'tools/setup_env.sh'],
                             env={'MMVIG_TORCH': 'conda'})
    assert result.returncode == 1
    assert "MMVIG_TORCH=conda: use 'registry' (default) or 'keep'" in \
        result.stderr


def test_setup_needs_the_archs_to_prebuild_cuda_ops_without_a_gpu():
    result = run_in_checkout(['bash', 'tools/setup_env.sh'],
                             env={'FORCE_CUDA': '1'})
    assert result.returncode == 1
    assert 'FORCE_CUDA=1 without a visible GPU needs the architectures ' \
        'to build for: TORCH_CUDA_ARCH_LIST="8.0;9.0"' in result.stderr


@pytest.mark.long
def test_check_env_on_a_driver_torch_cannot_use(tmp_path):
    """A GPU node whose driver is older than torch's CUDA: each failing
    line has its fix, and the exit status says training cannot work."""
    result = run_python(
        CHECK_ENV, path_first=fake_nvidia_smi(tmp_path, A100_OLD_DRIVER))
    assert result.returncode == 1
    out = result.stdout
    assert 'FAIL  torch CUDA vs driver' in out
    assert 'needs driver >= 580, this node has 535.183.01' in out
    assert 'FAIL  torch sees the GPUs' in out
    assert 'fix: ' in out and 'not ready' in out


def _probes(**overrides):
    """Simulated facts of a healthy H100 node; ``overrides`` break one."""
    torch_facts = check_env.TorchFacts('2.13.0+cu130', '13.0', True, 1,
                                       list(check_env.REGISTRY_ARCHS),
                                       '2.29.7')
    probes = dict(
        driver=lambda: ('580.95.05', [check_env.Gpu(0, H100[0], (9, 0))], ''),
        torch=lambda: torch_facts,
        mmcv=lambda: check_env.MmcvFacts('2.1.0', True, '13.0', ''),
        compiler=lambda: '/usr/bin/gcc',
        cuda_ops=lambda: check_env.Check('RoIAlign + NMS on a GPU', 'ok',
                                         'agree with the CPU ops'),
        svga_kernel=lambda arch: check_env.Check(
            f'SVGA Triton kernel for sm_{arch}', 'ok', '4 warps'),
        stack=lambda:
        [check_env.Check('OpenMMLab stack', 'ok', 'upstream: mmcv 2.1.0')],
        libraries=lambda: [check_env.Check('mmdet', 'ok', '3.3.0')])
    probes.update(overrides)
    return probes


def _failures(probes):
    checks = check_env.collect(probes)
    return {c.name: c for c in checks if c.status == 'FAIL'}, checks


def test_check_env_healthy_gpu_node_passes():
    failures, checks = _failures(_probes())
    assert not failures
    names = [c.name for c in checks]
    assert 'RoIAlign + NMS on a GPU' in names
    assert 'SVGA Triton kernel for sm_90' in names and 'NCCL' in names


@pytest.mark.parametrize('fault, name, fix', [
    ('mmcv without CUDA ops', 'mmcv CUDA ops', 'rebuild it on this node'),
    ('mmcv without ops', 'mmcv ops', 'rebuild it with its ops'),
    ('mmcv 2.2', 'OpenMMLab stack', 'pip install "mmcv>=2.0.0,<2.2.0"'),
    ('no C compiler', 'C compiler for Triton', 'install gcc'),
    ('GPU not in torch', 'torch kernels for the GPUs', 'cu126'),
    ('torch 2.14', 'torch', 'install torch 2.13.0'),
    ('no NCCL', 'NCCL', 'CUDA build of torch'),
    ('CPU torch', 'torch CUDA build', 'reinstall'),
])
def test_check_env_names_each_fault_and_its_fix(fault, name, fix):
    facts = _probes()['torch']()
    overrides = {
        'mmcv without CUDA ops':
        dict(mmcv=lambda: check_env.MmcvFacts('2.1.0', True, None, '')),
        'mmcv without ops':
        dict(mmcv=lambda: check_env.MmcvFacts('2.1.0', False, None,
                                              'No module named mmcv._ext')),
        'mmcv 2.2':
        dict(stack=lambda: check_env.check_stack([
            check_env._stack_module().Provider('mmcv', 'upstream', 'mmcv',
                                               '2.2.0')
        ])),
        'no C compiler':
        dict(compiler=lambda: None),
        'GPU not in torch':
        dict(driver=lambda:
             ('580.95.05', [check_env.Gpu(0, 'Tesla V100', (7, 0))], '')),
        'torch 2.14':
        dict(torch=lambda: facts._replace(version='2.14.1')),
        'no NCCL':
        dict(torch=lambda: facts._replace(nccl=None)),
        'CPU torch':
        dict(torch=lambda: facts._replace(
            cuda=None, available=False, archs=[])),
    }[fault]
    failures, _ = _failures(_probes(**overrides))
    assert name in failures, sorted(failures)
    assert fix in failures[name].fix, failures[name]


def test_check_env_on_a_cpu_machine_warns_of_a_missing_compiler():
    failures, checks = _failures(
        _probes(
            driver=lambda: (None, [], 'no nvidia-smi on PATH'),
            compiler=lambda: None))
    assert not failures
    assert any(c.name == 'C compiler for Triton' and c.status == 'warn'
               for c in checks)
    assert checks[-1].name == 'verdict'


@pytest.mark.long
def test_check_env_without_a_compiler_in_a_real_process(tmp_path):
    """No cc, gcc or clang on PATH and no CC: a warning on this CPU machine,
    and a failure with its fix once nvidia-smi lists a GPU."""
    bare = tmp_path / 'bare'
    bare.mkdir()
    env = {'PATH': str(bare), 'CC': ''}
    result = run_python(CHECK_ENV, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'warn  C compiler for Triton' in result.stdout
    result = run_python(
        CHECK_ENV,
        env=dict(env, PATH=f'{fake_nvidia_smi(tmp_path, H100)}:{bare}'))
    assert result.returncode == 1
    assert 'FAIL  C compiler for Triton' in result.stdout
    assert 'fix: install gcc' in result.stdout


def test_arch_support_follows_cuda_compatibility():
    archs = ['sm_75', 'sm_80', 'sm_86', 'sm_90']
    assert check_env.arch_supported((8, 9), archs)  # sm_86 cubin on 8.9
    assert not check_env.arch_supported((7, 0), archs)
    assert not check_env.arch_supported((10, 0), archs)
    assert check_env.arch_supported((10, 0), archs + ['compute_90'])


def test_toolchain_requirements_follow_torch_cuda():
    assert cuda_toolchain.requirements('13.0') == [
        'nvidia-cuda-nvcc==13.0.*', 'nvidia-cuda-crt==13.0.*',
        'nvidia-nvvm==13.0.*', 'nvidia-cuda-cccl==13.0.*',
        'nvidia-cuda-runtime==13.0.*'
    ]
    assert cuda_toolchain.requirements('12.6')[0] == \
        'nvidia-cuda-nvcc-cu12==12.6.*'
    with pytest.raises(
            SystemExit, match='no registry toolchain known for '
            'CUDA 11.8'):
        cuda_toolchain.requirements('11.8')


def test_toolchain_wheels_join_into_one_cuda_home(tmp_path):
    """CUDA 12's layout (a folder per wheel) joined as nvcc and torch's
    extension builder expect it: bin/nvcc beside its profile, include, lib
    with the libcudart.so the linker looks for, lib64."""
    site = tmp_path / 'site' / 'nvidia'
    files = {
        'cuda_nvcc/bin/nvcc': '#!/bin/sh\necho "release 12.6, V12.6.85"',
        'cuda_nvcc/bin/nvcc.profile': 'TOP = $(_HERE_)/..',
        'cuda_nvcc/include/crt/host_config.h': '',
        'cuda_nvcc/nvvm/bin/cicc': '',
        'cuda_runtime/include/cuda_runtime.h': '',
        'cuda_runtime/lib/libcudart.so.12': '',
        'cuda_cccl/include/cuda/std/version': ''
    }
    for name, text in files.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (site / 'cuda_nvcc/bin/nvcc').chmod(0o755)
    home = cuda_toolchain.join_home(
        str(tmp_path / 'site'), str(tmp_path / 'home'))
    for name in ('bin/nvcc', 'bin/nvcc.profile', 'include/cuda_runtime.h',
                 'include/crt/host_config.h', 'include/cuda/std/version',
                 'nvvm/bin/cicc', 'lib64/libcudart.so.12'):
        assert osp.isfile(osp.join(home, name)), name
    assert os.readlink(osp.join(home, 'lib', 'libcudart.so')) == \
        'libcudart.so.12'
    assert cuda_toolchain.nvcc_version(osp.join(home, 'bin', 'nvcc')) == \
        '12.6'


@pytest.mark.slow
def test_gpu_acceptance_dry_run(tmp_path):
    result = run_in_checkout(
        ['bash', 'tools/dev/gpu_acceptance.sh', '--dry-run'],
        env={
            'OUT': str(tmp_path),
            'PYTHON': sys.executable
        },
        timeout=1800)
    summary = (tmp_path / 'summary.txt').read_text()
    assert result.returncode == 0, summary + result.stderr[-2000:]
    assert 'FAIL' not in summary
    for step in ('check_env.py', 'pytest -m gpu', 'Mask R-CNN', 'Semantic FPN',
                 'benchmarks/gpu.py --smoke'):
        assert step in summary, summary
    assert len(list(tmp_path.iterdir())) <= 8


@pytest.mark.parametrize(
    'venvs,stack,python,expected',
    [((), None, None, 'python'), (('.venv', ), None, None, '.venv'),
     (('.venv', '.venv-onedl'), None, None, '.venv'),
     (('.venv', '.venv-onedl'), 'onedl', None, '.venv-onedl'),
     (('.venv-onedl', ), None, None, '.venv-onedl'),
     (('.venv', ), 'onedl', None, '.venv'),
     (('.venv', '.venv-onedl'), 'onedl', '/opt/py', '/opt/py')])
def test_shell_tools_run_the_venv_of_the_stack(venvs, stack, python, expected,
                                               tmp_path):
    """tools/torchrun.sh (dist_train.sh, dist_test.sh) and the acceptance
    dry run take the interpreter from tools/venv_python.sh: PYTHON, else the
    venv of MMVIG_STACK that setup made, else the other, else python."""
    for venv in venvs:
        binary = tmp_path / venv / 'bin' / 'python'
        binary.parent.mkdir(parents=True)
        binary.write_text('#!/bin/sh\n')
        binary.chmod(0o755)
    result = run_in_checkout([
        'bash', '-c', f'source tools/venv_python.sh; mmvig_python {tmp_path}'
    ],
                             env={
                                 'MMVIG_STACK': stack,
                                 'PYTHON': python
                             })
    assert result.returncode == 0, result.stderr
    chosen = result.stdout.strip()
    assert chosen == (
        expected if expected in ('python', '/opt/py') else
        f'{tmp_path}/{expected}/bin/python')
