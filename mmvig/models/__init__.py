"""mmvig's models. The backbones register with ``import mmvig``; the
classes built on mmpretrain's (:mod:`.distillation`,
:mod:`.vig_cross_attention`) register when mmpretrain's models are imported
(:mod:`mmvig.registry`)."""
from .adapt_vig import AdaptViG
from .attention_vig import AGGREGATORS, AttentionViG, Grapher
from .greedy_vig import GreedyViG
from .mobile_vig import MobileViG
from .sag_vit import SAGViT

__all__ = [
    'AGGREGATORS', 'AdaptViG', 'AttentionViG', 'Grapher', 'GreedyViG',
    'MobileViG', 'SAGViT'
]
