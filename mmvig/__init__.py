"""mmvig: graph-based vision backbones (AttentionViG, SAG-ViT) for OpenMMLab."""
from . import compat
from .version import __version__

compat.apply()

from .models import AttentionViG, SAGViT  # noqa: E402
from .registry import REGISTERED  # noqa: E402

__all__ = ['__version__', 'AttentionViG', 'REGISTERED', 'SAGViT']
