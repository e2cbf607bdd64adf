"""The SVGA cross-attention in standard operators only: what an ONNX export
writes.

Each axis whose stride divides it is ``MatMul`` / ``Exp`` / ``MatMul`` over
its residue classes, the other axes their shifted copies. Two entry points:
:func:`standard_cross_attention` (the operator's arguments) and
:func:`standard_aggregation` (a whole aggregation layer, ``out([x, m])``,
whose pointwise layers run in the pixel order the residue classes want:
the pixel orders stay in this module).
"""
import functools
import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..svga_graph import (SVGAShifts, axis_shifted_views, residue_classes,
                          shift_axes)
from .common import Partial, combine, dot, split_heads
from .layout import axis_classes


def uses_standard_ops(impl: str) -> bool:
    """Whether ``impl`` runs as :func:`standard_cross_attention`: when asked
    for, and under any ONNX export (what ONNX expresses), ``'reference'``
    aside."""
    return impl == 'standard' or (impl != 'reference'
                                  and torch.onnx.is_in_onnx_export())


def _residue_major(x: Tensor, groups: int) -> Tensor:
    """``(B, C, H, W)`` with each row's nodes reordered by residue class mod
    ``groups``: column ``r * W / groups + t`` holds node ``t * groups + r``
    (identity for ``groups=1``). Written as strided slices and a concat,
    which onnxruntime runs about eight times faster than the equivalent
    transpose of the two innermost axes."""
    if groups == 1:
        return x
    return torch.cat([x[..., r::groups] for r in range(groups)], -1)


def _natural_order(x: Tensor, groups: int) -> Tensor:
    """The inverse of :func:`_residue_major`: the classes interleaved."""
    if groups == 1:
        return x
    return torch.stack(x.chunk(groups, -1), -1).flatten(-2)


# The standard path forms the sequences of :mod:`.layout` (entry t of class
# r of a line is node t * K + r), rows in (line, class) order and columns in
# (class, line) order, through transposes that move one (merged) axis:
# onnxruntime copies those at memory speed, where a permutation that moves
# several axes (the 6-D view of layout.sequences) runs element by element,
# about ten times slower. Rows need their classes contiguous
# (_residue_major); columns are read in the natural order. The sequences
# form one 3-D batch, on which onnxruntime ran one axis's MatMuls and Add
# faster than on a 5-D or 6-D batch.


def _row_classes(x: Tensor, groups: int) -> Tensor:
    """``(B, h, d, H, W)``, ``W`` residue-major -> ``(B * h * H * K, d,
    W / K)``: one sequence per row and class."""
    batch, heads, depth, height, width = x.shape
    x = x.reshape(batch, heads, depth, height * groups, width // groups)
    return x.transpose(2, 3).reshape(-1, depth, width // groups)


def _column_classes(x: Tensor, groups: int) -> Tensor:
    """``(B, h, d, H, W)`` -> ``(B * h * K * W, d, H / K)``: one sequence per
    column and class (node ``t * K + r`` of a column is entry ``t`` of class
    ``r``)."""
    batch, heads, depth, height, width = x.shape
    seq_len = height // groups
    x = x.reshape(batch, heads, depth * seq_len, groups * width)
    return x.transpose(2, 3).reshape(-1, depth, seq_len)


def _from_classes(x: Tensor, dim: int, groups: int,
                  shape: Sequence[int]) -> Tensor:
    """The inverse of :func:`_row_classes` (``dim=4``) or
    :func:`_column_classes` (``dim=3``), to ``shape`` with ``x``'s depth."""
    batch, heads, _, height, width = shape
    depth = x.shape[1]
    if dim == 4:
        x = x.reshape(batch, heads, height * groups, depth, width // groups)
    else:
        x = x.reshape(batch, heads, groups * width, depth * height // groups)
    return x.transpose(2, 3).reshape(batch, heads, depth, height, width)


def _class_attention(q: Tensor, k: Tensor, v: Tensor, beta: Tensor,
                     seq_len: int, softmax: bool) -> Partial:
    """Attention within sequences stored ``(..., d, L)``, every other member
    of a sequence a neighbour: ``MatMul`` / ``Exp`` / ``MatMul``, the diagonal
    an additive ``-inf`` (ONNX: one Add; ``seq_len`` a Python int, so that
    the export writes it as a constant). Returns ``(..., d, L)`` sums and
    ``(..., 1, L)`` softmax statistics."""
    idx = torch.arange(seq_len)
    diagonal = torch.zeros(seq_len, seq_len, dtype=q.dtype)
    diagonal = diagonal.masked_fill_(idx[:, None] == idx[None, :],
                                     -math.inf).to(q.device)
    # (..., L, L): beta * cos - beta, -inf on the diagonal (onnxruntime
    # folds the scale into the MatMul: one pass over the logits, the Add)
    logit = torch.matmul(q.transpose(-1, -2), k) * beta + (diagonal - beta)
    if not softmax:
        weight = logit.exp()
        return Partial(torch.matmul(v, weight.transpose(-1, -2)), None, None)
    m = logit.amax(-1, keepdim=True)
    weight = (logit - m).exp()
    return Partial(
        torch.matmul(v, weight.transpose(-1, -2)), m.transpose(-1, -2),
        weight.sum(-1, keepdim=True).transpose(-1, -2))


def _standard_axis(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor, dim: int,
                   offsets: Sequence[int], softmax: bool) -> Partial:
    """One axis in standard differentiable operators: attention within the
    residue classes where the stride divides the axis (rows stored
    residue-major), the shifted copies elsewhere."""
    groups = axis_classes(qn.shape, dim, offsets).classes
    if groups > 1:
        classes = _row_classes if dim == 4 else _column_classes
        seq_len = len(offsets) + 1  # a node and its neighbours on the axis
        part = _class_attention(*(classes(x, groups) for x in (qn, kn, v)),
                                beta, seq_len, softmax)
        return Partial(
            *(None if t is None else _from_classes(t, dim, groups, qn.shape)
              for t in part))
    views = list(axis_shifted_views((kn, v), dim, offsets))
    logits = [(dot(qn, k_s) - 1) * beta for k_s, _ in views]
    m = functools.reduce(torch.maximum, logits) if softmax else None
    weights = [(logit - m).exp() if softmax else logit.exp()
               for logit in logits]
    acc = functools.reduce(torch.add,
                           [w * v_s for w, (_, v_s) in zip(weights, views)])
    return Partial(acc, m,
                   functools.reduce(torch.add, weights) if softmax else None)


def standard_cross_attention(q: Tensor,
                             k: Tensor,
                             v: Tensor,
                             log_beta: Tensor,
                             shifts: SVGAShifts,
                             num_heads: int,
                             normalize: str = 'none') -> Tensor:
    """The operator in standard PyTorch operators only, as an ONNX export
    writes it: each axis whose stride divides it as ``MatMul`` / ``Exp`` /
    ``MatMul`` over its residue classes, the other axes as their shifted
    copies. Same arguments and result as
    :func:`~mmvig.ops.svga_cross_attention`."""
    return _cross_attention(
        q,
        k,
        v,
        log_beta,
        shifts,
        num_heads,
        normalize,
        rows_residue_major=False)


def standard_aggregation(x: Tensor, qkv: nn.Conv2d, out: Callable[[Tensor],
                                                                  Tensor],
                         log_beta: Tensor, shifts: SVGAShifts, num_heads: int,
                         normalize: str, pointwise_out: bool) -> Tensor:
    """A cross-attention aggregation layer in standard operators:
    ``out([x, m])`` with ``q, k, v = qkv(x)`` and ``m`` their SVGA
    cross-attention.

    The projections are pointwise, and so is ``out`` when ``pointwise_out``:
    then they all run in the pixel order in which each row's residue classes
    are contiguous, one reorder in and one out per layer instead of one per
    tensor and axis.

    Args:
        x: Node features, ``(B, C, H, W)``.
        qkv: The ``C -> 3C`` 1x1 convolution (queries, keys, values).
        out: The layer applied to ``[x, m]``, ``(B, 2C, H, W)``.
        log_beta: Scalar tensor, the log of the temperature ``beta``.
        shifts: SVGA neighbours of the ``H x W`` grid.
        num_heads: Heads; ``C`` must be divisible by it.
        normalize: ``'none'``, ``'mean'`` or ``'softmax'``.
        pointwise_out: Whether ``out`` acts on each pixel alone.

    Returns:
        Tensor: ``out([x, m])`` in the natural pixel order.
    """
    groups = _row_residue_classes(shifts, x.shape[-1]) \
        if pointwise_out else 1
    x = _residue_major(x, groups)
    # three convolutions, not one and a split: no copy of q, k, v
    q, k, v = (F.conv2d(x, weight, bias)
               for weight, bias in zip(qkv.weight.chunk(3), qkv.bias.chunk(3)))
    m = _cross_attention(
        q,
        k,
        v,
        log_beta,
        shifts,
        num_heads,
        normalize,
        rows_residue_major=groups > 1)
    return _natural_order(out(torch.cat([x, m], dim=1)), groups)


def _cross_attention(q: Tensor, k: Tensor, v: Tensor, log_beta: Tensor,
                     shifts: SVGAShifts, num_heads: int, normalize: str,
                     rows_residue_major: bool) -> Tensor:
    """:func:`standard_cross_attention`; with ``rows_residue_major``,
    ``q``, ``k``, ``v`` and the returned messages hold each row's nodes in
    :func:`_residue_major` order for the rows' residue classes
    (:func:`_row_residue_classes`), as a layer whose projections are
    pointwise can keep them; otherwise they are reordered here."""
    qn, kn, vh, beta = split_heads(q, k, v, log_beta, num_heads)
    if shifts.num_neighbours == 0:
        return torch.zeros_like(v)
    groups = _row_residue_classes(shifts, v.shape[-1])
    reorder = 1 if rows_residue_major else groups
    qn, kn, vh = (
        _residue_major(x.flatten(1, 2), reorder).view_as(x)
        for x in (qn, kn, vh))
    parts = [
        _standard_axis(qn, kn, vh, beta, dim, offsets, normalize == 'softmax')
        for dim, offsets in shift_axes(shifts)
    ]
    out, _ = combine(parts, normalize, shifts.num_neighbours)
    return _natural_order(out.reshape(v.shape), reorder).to(v.dtype)


def _row_residue_classes(shifts: SVGAShifts, width: int) -> int:
    """The residue classes of the rows of a ``width``-wide map (1 where the
    stride does not divide it)."""
    return residue_classes(width, shifts.cols)
