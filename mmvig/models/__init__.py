from .attention_vig import AGGREGATORS, AttentionViG, Grapher
from .graph import SVGAShifts, svga_shifts

__all__ = ['AGGREGATORS', 'AttentionViG', 'Grapher', 'SVGAShifts', 'svga_shifts']
