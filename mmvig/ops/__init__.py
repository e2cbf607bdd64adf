from .svga_attention import svga_cross_attention

__all__ = ['svga_cross_attention']
