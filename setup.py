import os.path as osp
from setuptools import find_packages, setup


def read_module(name: str) -> dict:
    """The globals of mmvig/<name>.py (standard library only), run without
    importing mmvig."""
    scope: dict = {'__name__': f'mmvig.{name}'}
    with open(osp.join(osp.dirname(__file__), 'mmvig', f'{name}.py')) as f:
        exec(f.read(), scope)
    return scope


# The supported versions of each OpenMMLab stack, as `import mmvig` checks
# them.
STACKS = read_module('stack')['STACKS']
EXTRA = ['ftfy', 'regex', 'timm>=1.0']  # mmseg's tokenizer, timm's models

setup(
    name='mmvig',
    version=read_module('version')['__version__'],
    description=
    'Graph-based vision backbones (AttentionViG, SAG-ViT) for OpenMMLab',
    long_description=open('README.md').read()
    if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmvig', 'mmvig.*']),
    python_requires='>=3.9',
    # One OpenMMLab stack provides mmcv, mmengine, mmdet, mmseg and
    # mmpretrain: upstream (mmcv, mmengine, mmdet, mmsegmentation,
    # mmpretrain) or the OneDL fork (onedl-mmcv, ...), under the same module
    # names. Neither is a hard requirement (as OpenMMLab's packages leave
    # mmcv out of theirs), so installing mmvig replaces neither; `import
    # mmvig` checks the versions (mmvig/stack.py). The extras `upstream`
    # and `onedl` install one.
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'numpy',
        'matplotlib',
        # upstream mmengine imports pkg_resources for `mmdet::` base configs
        'setuptools>=77,<82',
    ],
    extras_require={
        stack: [s.spec() for s in table.values()] + EXTRA
        for stack, table in STACKS.items()
    } | {
        'timm': ['timm>=1.0'],
        'deploy': ['onnx', 'onnxruntime'],
        # mmdeploy 1.3.1's dependencies without its protobuf<=3.20.2 pin;
        # mmdeploy itself: pip install mmdeploy==1.3.1 --no-deps (README).
        'mmdeploy': [
            'onnx', 'onnxruntime', 'aenum', 'grpcio', 'multiprocess',
            'prettytable', 'terminaltables'
        ],
        'tests':
        ['pytest>=8', 'pytest-timeout', 'pytest-xdist', 'onnx', 'onnxruntime'],
    },
    license='Apache License 2.0',
)
