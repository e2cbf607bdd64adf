"""Run timm's own model test suite (``tests/test_models.py``) on mmvig's
timm models, TorchScript aside.

timm's suite is the contract every model timm ships is held to (creation,
forward and backward, default cfgs, ``reset_classifier``, ``features_only``,
``forward_intermediates`` / ``prune_intermediate_layers``, FX tracing). This
tool takes the suite of the installed timm version from timm's source
distribution on PyPI (cached; or ``--tests-dir`` for a checkout's ``tests``),
adds mmvig's models to the lists that choose which tests apply, as timm does
for its own families (module ``timm_models`` with the models that have
``forward_intermediates``; ``sagvit_*``, a class-token model, with the
non-standard models, as timm's ViTs), and runs pytest on
``attentionvig_*``, ``greedyvig_*``, ``mobilevig_*``, ``adaptvig_*`` and
``sagvit_*``.

    python tools/dev/timm_suite.py          # the whole suite (make test-timm)
    python tools/dev/timm_suite.py -k fx      # extra pytest arguments

TorchScript is out of scope: mmcv's ``ConvModule`` is not scriptable and
``torch.jit.script`` is deprecated; those tests are deselected.
"""
import argparse
import os
import os.path as osp
import shutil
import subprocess
import sys
import tarfile
import tempfile

import timm

# Inserted before timm's ``NUM_NON_STD = len(NON_STD_FILTERS)`` line.
REGISTRATION = '''
# mmvig's models, added to the filter lists as timm adds its own families.
import mmvig.models.timm_models  # noqa: E402  (registers the fifteen models)
FEAT_INTER_FILTERS.append('timm_models')
NON_STD_FILTERS.append('sagvit_*')
'''
ANCHOR = 'NUM_NON_STD = len(NON_STD_FILTERS)'
SELECT = ('(attentionvig or greedyvig or mobilevig or adaptvig or sagvit) '
          'and not torchscript')


def cache_dir() -> str:
    root = os.environ.get('XDG_CACHE_HOME', osp.expanduser('~/.cache'))
    return osp.join(root, 'mmvig', f'timm-{timm.__version__}-tests')


def fetch_suite(dest: str) -> None:
    """timm's ``tests/`` and ``pyproject.toml`` (its pytest markers) of the
    installed version, from its sdist; timm's package source stays out so
    the installed timm is the one tested."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, '-m', 'pip', 'download', '--no-deps',
            '--no-binary', ':all:', '-q', '-d', tmp,
            f'timm=={timm.__version__}'
        ]
        if subprocess.run(cmd).returncode:
            sys.exit(f'error: could not download timm {timm.__version__}\'s '
                     'source from PyPI; give a timm checkout\'s tests with '
                     '--tests-dir')
        (sdist, ) = os.listdir(tmp)
        with tarfile.open(osp.join(tmp, sdist)) as tar:
            prefix = tar.getnames()[0].split('/')[0] + '/'
            members = [
                m for m in tar.getmembers()
                if m.name.startswith(prefix + 'tests/') or m.name == prefix +
                'pyproject.toml'
            ]
            for m in members:
                m.name = m.name[len(prefix):]
            os.makedirs(dest, exist_ok=True)
            tar.extractall(dest, members=members, filter='data')


def write_suite(tests_dir: str, dest: str) -> str:
    """``test_models.py`` with mmvig's registration; returns its path."""
    source = osp.join(tests_dir, 'test_models.py')
    if not osp.isfile(source):
        sys.exit(f'error: {source} does not exist: --tests-dir must be the '
                 "tests/ folder of a timm checkout")
    with open(source) as f:
        text = f.read()
    if ANCHOR not in text:
        sys.exit(f'error: {tests_dir}/test_models.py has no line '
                 f'{ANCHOR!r} to add mmvig\'s models before; this tool '
                 'knows timm 1.0.x')
    os.makedirs(osp.join(dest, 'tests'), exist_ok=True)
    for name in ('__init__.py', 'conftest.py'):  # a checkout's, if given
        src = osp.join(tests_dir, name)
        if osp.exists(src) and \
                osp.abspath(tests_dir) != osp.abspath(osp.join(dest, 'tests')):
            shutil.copy(src, osp.join(dest, 'tests', name))
    path = osp.join(dest, 'tests', 'test_models_mmvig.py')
    with open(path, 'w') as f:
        f.write(text.replace(ANCHOR, REGISTRATION + ANCHOR, 1))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '-k',
        dest='keyword',
        help='a pytest -k expression, within mmvig\'s models')
    parser.add_argument(
        '--tests-dir',
        help="a timm checkout's tests/ (default: the "
        "installed version's, from PyPI)")
    args, pytest_args = parser.parse_known_args()
    dest = cache_dir()
    if args.tests_dir:
        tests_dir = args.tests_dir
        dest = osp.join(dest, 'checkout')
    else:
        tests_dir = osp.join(dest, 'tests')
        if not osp.exists(osp.join(tests_dir, 'test_models.py')):
            fetch_suite(dest)
    suite = write_suite(tests_dir, dest)
    ini = osp.join(dest, 'pyproject.toml')
    select = f'({SELECT}) and ({args.keyword})' if args.keyword else SELECT
    cmd = [sys.executable, '-m', 'pytest', suite, '-p', 'no:cacheprovider',
           '--rootdir', dest, '-k', select, '-q'] + \
        (['-c', ini] if osp.exists(ini) else []) + pytest_args
    print(' '.join(cmd), flush=True)
    sys.exit(subprocess.run(cmd).returncode)


if __name__ == '__main__':
    main()
