"""The cross-attention aggregation on an arbitrary neighbour index (a kNN
graph: vanilla ViG's, the paper's Table 3)."""
from torch import Tensor

from ...errors import InputError
from .common import (beta_from_log, check_normalize, compute_dtype, dot,
                     to_heads, unit_norm)


def gather_cross_attention(q: Tensor,
                           k: Tensor,
                           v: Tensor,
                           log_beta: Tensor,
                           index: Tensor,
                           num_heads: int,
                           normalize: str = 'none') -> Tensor:
    """The same aggregation on an arbitrary neighbour index (a kNN graph).

    The equations of :func:`svga_cross_attention` (unit per-head ``q_i``,
    ``k_j``, weights ``exp(-beta (1 - cos))``, the same normalisations and
    ``beta`` clamp), with node ``i``'s neighbours given by
    ``index[b, i, :]`` instead of the SVGA shifts; plain autograd over the
    gathered keys and values.

    Args:
        q: Queries, ``(B, C, N, 1)`` (or any ``(B, C, H, W)`` with
            ``N = H * W`` nodes in row-major order).
        k: Keys, ``(B, C, M, 1)``: the nodes ``index`` points into.
        v: Values, shaped as ``k``.
        log_beta: Scalar tensor, the log of the temperature ``beta``.
        index: Neighbour indices into the ``M`` key nodes, ``(B, N, n)`` or
            ``(N, n)`` for every sample alike.
        num_heads: Heads; ``C`` must be divisible by it.
        normalize: ``'none'``, ``'mean'`` or ``'softmax'`` over the
            ``n`` neighbours.

    Returns:
        Tensor: the messages ``m``, shaped as ``q``, in the dtype of ``v``.
    """
    check_normalize(normalize)
    batch, channels = q.shape[:2]
    if k.shape != v.shape or k.shape[:2] != q.shape[:2]:
        raise InputError(f'keys {tuple(k.shape)} and values '
                         f'{tuple(v.shape)} must have the batch and channels '
                         f'of the queries {tuple(q.shape)} and one shape')
    qn, kn, vh = (
        to_heads(
            x.reshape(batch, channels, -1, 1), num_heads, compute_dtype(v))
        for x in (q, k, v))
    qn, kn = unit_norm(qn), unit_norm(kn)
    beta = beta_from_log(log_beta).to(qn.dtype)
    nodes = qn.shape[3]
    index = index.expand(batch, *index.shape[-2:]) if index.dim() == 2 \
        else index
    if index.shape[:2] != (batch, nodes):
        raise InputError(f'index {tuple(index.shape)} does not list the '
                         f'neighbours of {nodes} nodes of {batch} samples')
    heads, dims = qn.shape[1:3]
    flat = index.reshape(batch, 1, 1, -1).expand(batch, heads, dims, -1)
    gathered = [
        x.squeeze(-1).gather(3, flat).reshape(batch, heads, dims, nodes, -1)
        for x in (kn, vh)
    ]
    logits = (dot(qn, gathered[0]) - 1) * beta  # (B, h, 1, N, n)
    weights = logits.softmax(-1) if normalize == 'softmax' else logits.exp()
    if normalize == 'mean':
        weights = weights / index.shape[-1]
    out = (weights * gathered[1]).sum(-1)
    return out.reshape(q.shape).to(v.dtype)
