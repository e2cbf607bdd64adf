from .svga_attention import gather_cross_attention, svga_cross_attention
from .svga_graph import (SVGAShifts, effective_stride, shifted_views,
                         svga_neighbour_index, svga_shifts)

__all__ = ['SVGAShifts', 'effective_stride', 'gather_cross_attention',
           'shifted_views', 'svga_cross_attention', 'svga_neighbour_index',
           'svga_shifts']
