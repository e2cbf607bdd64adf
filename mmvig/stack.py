"""Which OpenMMLab stack provides ``mmcv``, ``mmengine``, ``mmdet``,
``mmseg`` and ``mmpretrain``, and whether mmvig supports its versions.

Two distributions of the same modules exist: upstream OpenMMLab (``mmcv``,
``mmengine``, ``mmdet``, ``mmsegmentation``, ``mmpretrain``; no release since
early 2024) and its maintained continuation, the OneDL fork
(``onedl-mmcv``, ``onedl-mmengine``, ``onedl-mmdetection``,
``onedl-mmsegmentation``, ``onedl-mmpretrain``). mmvig runs on either
(``requirements/upstream.txt`` and ``requirements/onedl.txt`` pin the tested
releases), so none of them is a hard requirement of the ``mmvig``
distribution, as OpenMMLab's own packages leave mmcv out of theirs: on
``import mmvig``, :func:`check_versions` reads the installed distributions'
metadata (it imports nothing) and stops with one line naming an unsupported
version, the supported range and the command that installs one in it.
``MMVIG_SKIP_VERSION_CHECK=1`` skips that check (to try a newer release).
"""
import os
from importlib import metadata
from typing import Dict, List, NamedTuple, Optional, Tuple

SKIP_SWITCH = 'MMVIG_SKIP_VERSION_CHECK'


class Supported(NamedTuple):
    """A distribution of one module and the versions mmvig supports:
    ``low <= version < high``."""
    dist: str
    low: str
    high: str

    def spec(self) -> str:
        return f'{self.dist}>={self.low},<{self.high}'


# module -> the supported distribution of each stack
STACKS: Dict[str, Dict[str, Supported]] = {
    'upstream': {
        'mmcv': Supported('mmcv', '2.0.0', '2.2.0'),
        'mmengine': Supported('mmengine', '0.10.0', '1.0.0'),
        'mmdet': Supported('mmdet', '3.3.0', '3.4.0'),
        'mmseg': Supported('mmsegmentation', '1.2.0', '1.3.0'),
        'mmpretrain': Supported('mmpretrain', '1.2.0', '1.3.0'),
    },
    'onedl': {
        'mmcv': Supported('onedl-mmcv', '2.3.0', '2.4.0'),
        'mmengine': Supported('onedl-mmengine', '0.10.8', '0.11.0'),
        'mmdet': Supported('onedl-mmdetection', '3.5.0', '3.6.0'),
        'mmseg': Supported('onedl-mmsegmentation', '1.4.0', '1.5.0'),
        'mmpretrain': Supported('onedl-mmpretrain', '1.3.0', '1.4.0'),
    },
}
MODULES = tuple(STACKS['upstream'])


class Provider(NamedTuple):
    """The installed distribution of one module."""
    module: str
    stack: str
    dist: str
    version: str


def _release(version: str) -> Tuple[int, ...]:
    """The release numbers of a version string (``2.3.0.post3`` ->
    (2, 3, 0); ``1.0.0rc1`` -> (1, 0, 0))."""
    numbers = []
    for part in version.split('.'):
        digits = ''
        for char in part:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        numbers.append(int(digits))
        if len(digits) < len(part):
            break
    return tuple(numbers)


def providers() -> List[Provider]:
    """Every installed distribution of the five modules, upstream or OneDL
    (two for one module: both are installed, over each other's files)."""
    found = []
    for module in MODULES:
        for stack, table in STACKS.items():
            try:
                version = metadata.version(table[module].dist)
            except metadata.PackageNotFoundError:
                continue
            found.append(Provider(module, stack, table[module].dist, version))
    return found


def installed_stack(found: Optional[List[Provider]] = None) -> str:
    """``'upstream'``, ``'onedl'``, ``'mixed'`` (distributions of both) or
    ``'none'``."""
    stacks = {p.stack for p in (providers() if found is None else found)}
    return stacks.pop() if len(stacks) == 1 else 'mixed' if stacks else 'none'


def version_problems(found: Optional[List[Provider]] = None) -> List[str]:
    """One line per installed distribution outside its supported range, and
    per module that two distributions install, each with its fix."""
    found = providers() if found is None else found
    problems = []
    for module in MODULES:
        mine = [p for p in found if p.module == module]
        if len(mine) > 1:
            specs = ' or '.join(f'"{STACKS[stack][module].spec()}"'
                                for stack in STACKS)
            problems.append(
                f'{module} is installed twice, by '
                f'{" and ".join(f"{p.dist} {p.version}" for p in mine)} '
                "(one over the other's files): pip uninstall -y "
                f'{" ".join(p.dist for p in mine)}, then pip install one of '
                f'{specs}')
            continue
        for p in mine:
            want = STACKS[p.stack][module]
            if not (_release(want.low) <= _release(p.version) < _release(
                    want.high)):
                problems.append(
                    f'mmvig supports {want.spec()}, not {p.dist} '
                    f'{p.version}: pip install "{want.spec()}" (or set '
                    f'{SKIP_SWITCH}=1 to try this one)')
    return problems


def check_versions() -> None:
    """Stop ``import mmvig`` with one line when an installed OpenMMLab
    distribution is outside the versions mmvig supports (see the module
    docstring).

    Raises:
        ImportError: naming the version, the supported range and the fix.
    """
    if os.environ.get(SKIP_SWITCH, '') not in ('', '0'):
        return
    problems = version_problems()
    if problems:
        raise ImportError(problems[0])


def mixed_stack_problem(found: Optional[List[Provider]] = None) -> str:
    """A line naming the distributions of two stacks in one environment
    (``mmcv`` of upstream under ``onedl-mmdetection``, or the reverse) and
    the fix; empty when the environment holds one stack."""
    found = providers() if found is None else found
    if installed_stack(found) != 'mixed':
        return ''
    by_stack = {
        stack:
        ', '.join(f'{p.dist} {p.version}' for p in found if p.stack == stack)
        for stack in STACKS
    }
    return (f'this environment mixes the upstream OpenMMLab stack '
            f'({by_stack["upstream"]}) with the OneDL fork '
            f'({by_stack["onedl"]}), which install the same modules: keep '
            'one (pip uninstall the other\'s distributions), or set up a '
            'venv with one: bash tools/setup_env.sh (upstream) or '
            'MMVIG_STACK=onedl bash tools/setup_env.sh')
