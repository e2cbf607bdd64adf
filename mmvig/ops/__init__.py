from .svga_attention import svga_cross_attention
from .svga_graph import SVGAShifts, effective_stride, shifted_views, svga_shifts

__all__ = ['SVGAShifts', 'effective_stride', 'shifted_views',
           'svga_cross_attention', 'svga_shifts']
