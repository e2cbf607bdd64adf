"""mmvig's imports run down its layers: errors, helpers, the OpenMMLab
stack check and the seams with other libraries, then the
registries and file loading, the operators, the models and data, the engine,
and on top the APIs, deploy, visualisation and test helpers. No module
imports one of a higher layer (a deferred import inside a function counts),
and the library never imports the tools or the benchmarks."""
import ast
import glob
import importlib
import os.path as osp

import pytest

from mmvig.testing import REPO_ROOT

# Lowest first; a module may import modules of its own layer or below.
LAYERS = [
    ('mmvig.version', 'mmvig.errors', 'mmvig.typing_utils', 'mmvig.stack',
     'mmvig.seams'),
    ('mmvig.registry', 'mmvig.safe_load'),
    ('mmvig.ops', ),
    ('mmvig.models', 'mmvig.datasets'),
    ('mmvig.engine', ),
    ('mmvig.apis', 'mmvig.deploy'),
    ('mmvig.visualization', 'mmvig.testing'),
    ('mmvig', ),
]


def _layer(module: str) -> int:
    """The layer of a module: that of the longest prefix in LAYERS."""
    best, rank = '', None
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + '.')) and \
                    len(name) > len(best):
                best, rank = name, i
    return rank


def _modules():
    for path in sorted(
            glob.glob(
                osp.join(REPO_ROOT, 'mmvig', '**', '*.py'), recursive=True)):
        name = osp.relpath(path, REPO_ROOT)[:-3].replace(osp.sep, '.')
        yield name.removesuffix('.__init__'), path


def _imports(module: str, path: str):
    """Every module ``path`` imports (top level and inside functions)."""
    package = module if path.endswith('__init__.py') else \
        module.rpartition('.')[0]
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                target = '.'.join(base +
                                  [node.module] if node.module else base)
            else:
                target = node.module
            yield target
            for alias in node.names:  # from .models import attention_vig
                yield f'{target}.{alias.name}'


def test_every_module_has_a_layer():
    assert [m for m, _ in _modules() if _layer(m) is None] == []


@pytest.mark.parametrize(
    'module, path', list(_modules()), ids=[m for m, _ in _modules()])
def test_imports_run_down_the_layers(module, path):
    own = _layer(module)
    upward = []
    for target in _imports(module, path):
        top = target.split('.')[0]
        if top in ('tools', 'benchmarks', 'tests'):
            upward.append(target)
        elif top == 'mmvig':
            rank = _layer(target)
            # ``from .ops import svga_attention`` names a module or a name
            if rank is not None and rank > own and \
                    not target.startswith(module + '.'):
                upward.append(f'{target} (layer {rank} > {own})')
    assert upward == []


@pytest.mark.parametrize(
    'module, path', list(_modules()), ids=[m for m, _ in _modules()])
def test_every_exported_name_exists(module, path):
    """``__all__`` lists only names the module has (a star import of a
    stale ``__all__`` raises)."""
    with open(path) as f:
        if '__all__' not in f.read():
            return
    imported = importlib.import_module(module)
    missing = [n for n in imported.__all__ if not hasattr(imported, n)]
    assert missing == [], f'{module}.__all__ names what it lacks'
