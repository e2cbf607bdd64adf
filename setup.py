import os.path as osp
from setuptools import find_packages, setup


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(osp.dirname(__file__), 'mmvig', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmvig',
    version=read_version(),
    description=
    'Graph-based vision backbones (AttentionViG, SAG-ViT) for OpenMMLab',
    long_description=open('README.md').read()
    if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmvig', 'mmvig.*']),
    python_requires='>=3.9',
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'mmengine>=0.10,<1.0',
        'mmcv>=2.0.0,<2.2.0',
        'numpy',
        'matplotlib',
        # mmengine imports pkg_resources for `mmdet::`-style base configs.
        'setuptools>=77,<82',
    ],
    extras_require={
        'cls': ['mmpretrain>=1.2,<1.3'],
        'det': ['mmdet>=3.3,<3.4'],
        'seg': ['mmsegmentation>=1.2,<1.3', 'ftfy', 'regex'],
        'timm': ['timm>=1.0'],
        'all': [
            'mmpretrain>=1.2,<1.3', 'mmdet>=3.3,<3.4',
            'mmsegmentation>=1.2,<1.3', 'ftfy', 'regex', 'timm>=1.0'
        ],
        'deploy': ['onnx', 'onnxruntime'],
        # mmdeploy 1.3.1's dependencies without its protobuf<=3.20.2 pin;
        # mmdeploy itself: pip install mmdeploy==1.3.1 --no-deps (README).
        'mmdeploy': [
            'onnx', 'onnxruntime', 'aenum', 'grpcio', 'multiprocess',
            'prettytable', 'terminaltables'
        ],
        'tests': ['pytest>=8', 'pytest-timeout', 'onnx', 'onnxruntime'],
    },
    license='Apache License 2.0',
)
