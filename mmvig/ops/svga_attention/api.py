"""The entry point: :func:`svga_cross_attention` chooses the implementation."""
import torch
from torch import Tensor

from ...errors import InputError
from ..svga_graph import SVGAShifts
from .common import check_impl, check_normalize, compute_dtype, split_heads
from .dispatch import fused_cross_attention, triton_available
from .export import standard_cross_attention, uses_standard_ops
from .reference import reference_cross_attention


def svga_cross_attention(q: Tensor,
                         k: Tensor,
                         v: Tensor,
                         log_beta: Tensor,
                         shifts: SVGAShifts,
                         num_heads: int,
                         normalize: str = 'none',
                         impl: str = 'auto') -> Tensor:
    """Aggregate values over SVGA neighbours with cosine cross-attention.

    Args:
        q: Queries, shape ``(B, C, H, W)``.
        k: Keys, shape ``(B, C, H, W)``.
        v: Values, shape ``(B, C, H, W)``.
        log_beta: Scalar tensor, the log of the kernel temperature ``beta``.
        shifts: SVGA neighbours of the ``H x W`` grid.
        num_heads: Heads; ``C`` must be divisible by it.
        normalize: ``'none'`` (paper), ``'mean'`` or ``'softmax'``.
        impl: ``'auto'`` (the Triton kernels on CUDA tensors up to float32,
            falling back to PyTorch with a warning if they fail; PyTorch
            elsewhere), ``'triton'`` (a failure raises), ``'torch'``,
            ``'standard'`` (standard operators only, as an ONNX export
            writes them; every implementation but ``'reference'`` becomes
            this one inside ``torch.onnx.export``) or ``'reference'`` (plain
            autograd over shifted tensors; memory grows with the
            neighbours).

    Returns:
        Tensor: the aggregated messages ``m``, shape ``(B, C, H, W)``, in the
        dtype of ``v``.
    """
    check_normalize(normalize)
    check_impl(impl)
    if uses_standard_ops(impl) or impl == 'reference':
        fn = standard_cross_attention if uses_standard_ops(impl) else \
            reference_cross_attention
        return fn(q, k, v, log_beta, shifts, num_heads, normalize)
    if impl == 'auto':  # the kernels compute in float32
        impl = 'auto' if q.is_cuda and compute_dtype(v) == torch.float32 \
            and triton_available(q) else 'torch'
    elif impl == 'triton' and not triton_available(q):
        raise InputError("impl='triton' needs CUDA tensors and the triton "
                         'package (or TRITON_INTERPRET=1 on the CPU); '
                         "impl='torch' runs anywhere")
    qn, kn, vh, beta = split_heads(q, k, v, log_beta, num_heads)
    if shifts.num_neighbours == 0:
        return torch.zeros_like(v)
    out = fused_cross_attention(qn, kn, vh, beta, shifts, normalize, impl)
    return out.reshape(v.shape).to(v.dtype)
