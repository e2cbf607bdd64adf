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
        impl: One of :data:`IMPLEMENTATIONS`: ``'auto'`` (the Triton
            kernels on CUDA tensors up to float32, falling back to PyTorch
            with a warning if they fail; PyTorch elsewhere), ``'triton'``
            (a failure raises), ``'torch'``, ``'standard'`` (standard
            operators only, as an ONNX export writes them; every
            implementation but ``'reference'`` becomes this one inside
            ``torch.onnx.export``) or ``'reference'`` (plain autograd over
            shifted tensors; memory grows with the neighbours).

    Returns:
        Tensor: the aggregated messages ``m``, shape ``(B, C, H, W)``, in the
        dtype of ``v``.
    """
    check_normalize(normalize)
    impl = resolve_impl(impl, v)
    if impl in ('standard', 'reference'):
        fn = standard_cross_attention if impl == 'standard' else \
            reference_cross_attention
        return fn(q, k, v, log_beta, shifts, num_heads, normalize)
    qn, kn, vh, beta = split_heads(q, k, v, log_beta, num_heads)
    if shifts.num_neighbours == 0:
        return torch.zeros_like(v)
    out = fused_cross_attention(qn, kn, vh, beta, shifts, normalize, impl)
    return out.reshape(v.shape).to(v.dtype)


def resolve_impl(impl: str, x: Tensor) -> str:
    """The implementation that ``impl`` runs on tensors like ``x``.

    ``'standard'`` under any ONNX export (``'reference'`` aside); ``'auto'``
    stays ``'auto'`` (Triton, with the fallback) for CUDA tensors computed in
    float32 when Triton is installed, and becomes ``'torch'`` elsewhere.

    Raises:
        InputError: ``impl`` is not one of :data:`IMPLEMENTATIONS`, or is
            ``'triton'`` where the kernels cannot run.
    """
    check_impl(impl)
    if uses_standard_ops(impl):
        return 'standard'
    if impl == 'auto' and not (x.is_cuda and compute_dtype(x) == torch.float32
                               and triton_available(x)):
        return 'torch'  # the kernels compute in float32
    if impl == 'triton' and not triton_available(x):
        raise InputError("impl='triton' needs CUDA tensors and the triton "
                         'package (or TRITON_INTERPRET=1 on the CPU); '
                         "impl='torch' runs anywhere")
    return impl
