"""mmvig: graph-based vision backbones (AttentionViG, SAG-ViT) for OpenMMLab."""
from .checkpoint import allow_training_checkpoint_types
from .version import __version__

allow_training_checkpoint_types()

from .models import AttentionViG, SAGViT  # noqa: E402
from .registry import REGISTERED  # noqa: E402

__all__ = ['__version__', 'AttentionViG', 'REGISTERED', 'SAGViT']
