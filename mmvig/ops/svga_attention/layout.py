"""The residue-class layout: how one axis's SVGA neighbour sets become
sequences, for every implementation that computes an axis as attention
within sequences (the PyTorch path's batched GEMMs, the export's MatMuls,
the Triton dense kernels).

Every SVGA neighbour of a node lies on the node's own row (or column), so
one axis is attention along its lines (the columns for the row offsets, the
rows for the column offsets) under a circulant mask. When the stride ``K``
divides the axis length, a node's neighbours are exactly the other members
of its residue class mod ``K``: line ``l`` splits into ``K`` sequences, and
entry ``t`` of class ``r`` is node ``t * K + r`` of the line. Sequence ``s``
is class ``s % K`` of line ``s // K``. Otherwise (``K = 1``) each line is
one sequence under the mask.
"""
from typing import NamedTuple, Sequence, Tuple

from torch import Tensor

from ..svga_graph import residue_classes


class AxisClasses(NamedTuple):
    """The sequences of one axis of ``(B, h, d, H, W)`` tensors.

    Attributes:
        dim: 3 for the row offsets (sequences run down the columns), 4 for
            the column offsets (along the rows).
        classes: ``K``, the residue classes of a line (1: the whole line).
        seq_len: Entries per sequence, the axis length over ``K``.
        lines: The lines the sequences lie on: ``W`` for ``dim=3``, ``H``
            for ``dim=4``.
    """
    dim: int
    classes: int
    seq_len: int
    lines: int

    def strides(self, row_stride: int,
                col_stride: int) -> Tuple[int, int, int]:
        """``(line, class, entry)``: how far apart consecutive lines, classes
        of a line and entries of a sequence lie in a map whose rows and
        columns are ``row_stride`` and ``col_stride`` apart."""
        if self.dim == 3:  # a line is a column; its nodes are rows
            return col_stride, row_stride, self.classes * row_stride
        return row_stride, col_stride, self.classes * col_stride


def axis_classes(shape: Sequence[int], dim: int,
                 offsets: Sequence[int]) -> AxisClasses:
    """The sequences of the axis ``dim`` of ``(B, h, d, H, W)`` tensors with
    neighbours at ``offsets``."""
    length = shape[dim]
    classes = residue_classes(length, offsets)
    lines = shape[4] if dim == 3 else shape[3]
    return AxisClasses(dim, classes, length // classes, lines)


def sequences(x: Tensor, axis: AxisClasses) -> Tensor:
    """A view of ``(B, h, d, H, W)`` ``x`` as ``(B, h, lines, K, L, d)``:
    entry ``[..., l, r, t, c]`` is channel ``c`` of entry ``t`` of class
    ``r`` of line ``l``."""
    batch, heads, depth = x.shape[:3]
    line, cls, entry = axis.strides(x.stride(3), x.stride(4))
    return x.as_strided(
        (batch, heads, axis.lines, axis.classes, axis.seq_len, depth),
        (x.stride(0), x.stride(1), line, cls, entry, x.stride(2)),
        x.storage_offset())


def to_sequences(x: Tensor, axis: AxisClasses) -> Tensor:
    """``(B, h, d, H, W) -> (N, L, d)``, sequence ``n`` the
    ``n % (lines * K)``-th of image-head ``n // (lines * K)``; one copy."""
    return sequences(x, axis).reshape(-1, axis.seq_len, x.shape[2])


def from_sequences(x: Tensor, axis: AxisClasses,
                   shape: Sequence[int]) -> Tensor:
    """The inverse of :func:`to_sequences`: ``(N, L, d)`` to a contiguous
    ``shape[:2] + (d, H, W)`` tensor (``d`` that of ``x``); one copy."""
    out = x.new_empty(tuple(shape[:2]) + (x.shape[-1], ) + tuple(shape[3:]))
    target = sequences(out, axis)
    target.copy_(x.view(target.shape))
    return out
