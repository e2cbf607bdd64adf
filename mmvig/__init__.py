"""mmvig: graph-based vision backbones (AttentionViG, SAG-ViT) for OpenMMLab.

``import mmvig`` registers mmvig's names (:mod:`mmvig.registry`) and admits
the data types of OpenMMLab training checkpoints to torch's safe loader
(:mod:`mmvig.checkpoint`). It changes nothing else and imports no task
library: ``mmvig.AttentionViG`` and ``mmvig.SAGViT`` load on first use.
"""
from .checkpoint import allow_training_checkpoint_types
from .registry import REGISTERED, load
from .version import __version__

allow_training_checkpoint_types()

__all__ = ['__version__', 'AttentionViG', 'REGISTERED', 'SAGViT', 'load']


def __getattr__(name: str):
    if name in ('AttentionViG', 'SAGViT'):
        return load(name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
