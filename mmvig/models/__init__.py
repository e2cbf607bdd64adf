"""mmvig's models. The backbones register with ``import mmvig``; the
classes built on mmpretrain's (:mod:`.classifiers`, :mod:`.vig`) register
when mmpretrain's models are imported (:mod:`mmvig.registry`)."""
from .attention_vig import AGGREGATORS, AttentionViG, Grapher
from .graph import GridGraph, k_connectivity_graph, similarity_edge_weights
from .sag_vit import SAGViT

__all__ = ['AGGREGATORS', 'AttentionViG', 'Grapher', 'GridGraph', 'SAGViT',
           'k_connectivity_graph', 'similarity_edge_weights']
