from .grid_graph import (GridGraph, k_connectivity_graph,
                         similarity_edge_weights)
from .svga_attention import svga_cross_attention
from .svga_graph import (SVGAShifts, effective_stride, exponential_offsets,
                         shifted_views, svga_neighbour_index, svga_shifts)

__all__ = [
    'GridGraph', 'SVGAShifts', 'effective_stride', 'exponential_offsets',
    'k_connectivity_graph', 'shifted_views', 'similarity_edge_weights',
    'svga_cross_attention', 'svga_neighbour_index', 'svga_shifts'
]
