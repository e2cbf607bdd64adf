from .attention_vig import AGGREGATORS, AttentionViG, Grapher
from .graph import (GridGraph, SVGAShifts, k_connectivity_graph,
                    similarity_edge_weights, svga_shifts)
from .sag_vit import SAGViT

__all__ = ['AGGREGATORS', 'AttentionViG', 'Grapher', 'GridGraph', 'SAGViT',
           'SVGAShifts', 'k_connectivity_graph', 'similarity_edge_weights',
           'svga_shifts']
