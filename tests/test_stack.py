"""The OpenMMLab stack check (mmvig/stack.py): upstream or OneDL, versions
in range, one stack per environment; what ``import mmvig`` and
``tools/misc/check_env.py`` say when it is not so."""
import os.path as osp
import re

import pytest

from mmvig import stack
from mmvig.testing import REPO_ROOT, run_python, run_tool
from tools.misc import check_env

P = stack.Provider


def test_this_environment_is_one_supported_stack():
    found = stack.providers()
    assert stack.installed_stack(found) in stack.STACKS
    assert {p.module for p in found} == set(stack.MODULES)
    assert stack.version_problems(found) == []
    assert stack.mixed_stack_problem(found) == ''


@pytest.mark.parametrize('name', sorted(stack.STACKS))
def test_the_pinned_releases_are_supported(name):
    """requirements/<stack>.txt pins one release of each distribution of
    that stack, inside the range mmvig supports."""
    pins = dict(
        re.findall(
            r'^([\w-]+)==(\S+)$',
            open(osp.join(REPO_ROOT, 'requirements', f'{name}.txt')).read(),
            re.M))
    table = stack.STACKS[name]
    assert set(pins) == {s.dist for s in table.values()}
    found = [
        P(module, name, s.dist, pins[s.dist]) for module, s in table.items()
    ]
    assert stack.version_problems(found) == []
    assert stack.installed_stack(found) == name


def test_an_unsupported_version_names_the_range_and_the_fix():
    found = [
        P('mmcv', 'upstream', 'mmcv', '2.2.0'),
        P('mmdet', 'onedl', 'onedl-mmdetection', '3.6.0rc1'),
        P('mmseg', 'onedl', 'onedl-mmsegmentation', '1.4.2.post1')
    ]
    assert stack.version_problems(found) == [
        'mmvig supports mmcv>=2.0.0,<2.2.0, not mmcv 2.2.0: pip install '
        '"mmcv>=2.0.0,<2.2.0" (or set MMVIG_SKIP_VERSION_CHECK=1 to try '
        'this one)', 'mmvig supports onedl-mmdetection>=3.5.0,<3.6.0, not '
        'onedl-mmdetection 3.6.0rc1: pip install '
        '"onedl-mmdetection>=3.5.0,<3.6.0" (or set '
        'MMVIG_SKIP_VERSION_CHECK=1 to try this one)'
    ]


def test_two_stacks_are_refused_with_the_fix():
    found = [
        P('mmcv', 'upstream', 'mmcv', '2.1.0'),
        P('mmdet', 'onedl', 'onedl-mmdetection', '3.5.1'),
        P('mmseg', 'upstream', 'mmsegmentation', '1.2.2'),
        P('mmseg', 'onedl', 'onedl-mmsegmentation', '1.4.2')
    ]
    assert stack.installed_stack(found) == 'mixed'
    twice, = stack.version_problems(found)
    assert twice.startswith('mmseg is installed twice, by mmsegmentation '
                            '1.2.2 and onedl-mmsegmentation 1.4.2')
    assert 'pip uninstall -y mmsegmentation onedl-mmsegmentation' in twice
    mixed = stack.mixed_stack_problem(found)
    assert '(mmcv 2.1.0, mmsegmentation 1.2.2)' in mixed
    assert 'MMVIG_STACK=onedl bash tools/setup_env.sh' in mixed
    check, = check_env.check_stack(found)
    assert check.status == 'FAIL' and 'OneDL fork' in check.detail
    assert 'setup_env.sh' in check.fix
    check, = check_env.check_stack(found[:1])
    assert check == check_env.Check('OpenMMLab stack', 'ok',
                                    'upstream: mmcv 2.1.0')


def test_import_stops_in_one_line_under_an_unsupported_mmcv(tmp_path):
    """A distribution's metadata first on the path stands for an installed
    mmcv release out of range: ``import mmvig`` stops with one line, and
    the switch lets it through."""
    mmcv, = [p for p in stack.providers() if p.module == 'mmcv']
    high = stack.STACKS[mmcv.stack]['mmcv'].high
    info = tmp_path / f'{mmcv.dist.replace("-", "_")}-{high}.dist-info'
    info.mkdir()
    (info / 'METADATA').write_text(
        f'Metadata-Version: 2.1\nName: {mmcv.dist}\nVersion: {high}\n')
    env = dict(PYTHONPATH=str(tmp_path))
    result = run_python('-c', 'import mmvig', env=env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f'ImportError: mmvig supports {mmcv.dist}>='
        f'{stack.STACKS[mmcv.stack]["mmcv"].low},<{high}, not {mmcv.dist} '
        f'{high}: pip install "{mmcv.dist}>='
        f'{stack.STACKS[mmcv.stack]["mmcv"].low},<{high}" (or set '
        'MMVIG_SKIP_VERSION_CHECK=1 to try this one)'), result.stderr
    env[stack.SKIP_SWITCH] = '1'
    run_tool('-c', 'import mmvig', env=env)
