"""SVGA graph geometry (Sparse Vision Graph Attention, MobileViG): the
neighbours of every node of an image grid, as circular shifts.

A node at row ``r``, column ``c`` of an ``H x W`` map is linked to the nodes
``((r + t*K) mod H, c)`` of its column and ``(r, (c + t*K) mod W)`` of its row,
for ``t = 1, 2, ...`` while ``t*K`` is smaller than the axis length. Every
neighbour set is therefore a list of circular shifts of the whole map, which is
how the aggregation operators consume it: one pass per shift, never a tensor
with one slice per neighbour.

``max_shifts`` caps the number of shifts per axis by growing the stride with
the map (``K_eff = max(K, ceil(L / (max_shifts + 1)))``), so the cost stays
linear in the number of pixels at detection resolutions.

AdaptViG's long-range neighbours (:func:`exponential_offsets`) are shifts
too: the nodes at power-of-two offsets along each axis.
"""
import math
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..errors import InputError


class SVGAShifts(NamedTuple):
    """Circular shifts that define the SVGA neighbours of every node.

    Attributes:
        rows: Offsets ``t*K_h`` along the height axis.
        cols: Offsets ``t*K_w`` along the width axis.
    """
    rows: Tuple[int, ...]
    cols: Tuple[int, ...]

    @property
    def num_neighbours(self) -> int:
        return len(self.rows) + len(self.cols)


def effective_stride(length: int,
                     stride: int,
                     max_shifts: Optional[int] = None) -> int:
    """Stride along one axis once the optional cap on shifts is applied."""
    if stride < 1:
        raise InputError(f'SVGA stride must be >= 1, got {stride}')
    if max_shifts is None:
        return stride
    if max_shifts < 1:
        raise InputError(f'max_shifts must be >= 1 or None, got {max_shifts}')
    return max(stride, math.ceil(length / (max_shifts + 1)))


def svga_shifts(height: int,
                width: int,
                stride: int = 2,
                max_shifts: Optional[int] = None) -> SVGAShifts:
    """Shifts of the SVGA graph on a ``height x width`` grid.

    Args:
        height: Rows of the feature map.
        width: Columns of the feature map.
        stride: SVGA stride ``K`` (the paper uses 2).
        max_shifts: Optional cap on the number of shifts per axis.

    Returns:
        SVGAShifts: offsets along each axis; a node's neighbours are the nodes
        at these circular offsets in its column and in its row.
    """
    k_h = effective_stride(height, stride, max_shifts)
    k_w = effective_stride(width, stride, max_shifts)
    return SVGAShifts(
        rows=tuple(range(k_h, height, k_h)),
        cols=tuple(range(k_w, width, k_w)))


def shift_axes(shifts: SVGAShifts) -> List[Tuple[int, Tuple[int, ...]]]:
    """``(dim, offsets)`` of each axis with neighbours, ``dim`` counted in
    ``(B, heads, d, H, W)`` tensors: 3 for the row offsets, 4 for the
    column offsets."""
    return [(dim, offsets)
            for dim, offsets in ((3, shifts.rows), (4, shifts.cols))
            if offsets]


def exponential_offsets(length: int) -> Tuple[int, ...]:
    """AdaptViG's long-range offsets along an axis of ``length`` nodes: the
    powers of two ``2, 4, 8, ...`` below ``length`` (Munir et al., WACV 2026;
    the authors' code also visits ``2^i = length``, the node itself, which
    adds nothing to a max of differences)."""
    length = int(length)  # a traced shape is a tensor
    return tuple(2**i for i in range(1, length.bit_length()) if 2**i < length)


def residue_classes(length: int, offsets: Sequence[int]) -> int:
    """``K`` when ``offsets`` are ``K, 2K, ...`` and ``K`` divides ``length``,
    else 1.

    With ``K > 1`` the neighbours of a node along the axis are exactly the
    other members of its residue class mod ``K``: the axis is dense attention
    over ``K`` sequences of length ``length / K`` without their diagonal.
    """
    if not offsets:
        return 1
    stride = offsets[0]
    if length % stride == 0 and \
            tuple(offsets) == tuple(range(stride, length, stride)):
        return stride
    return 1


def svga_neighbour_index(height: int, width: int,
                         shifts: SVGAShifts) -> Tensor:
    """The SVGA neighbours as an index, the form a kNN graph takes.

    Args:
        height: Rows of the grid.
        width: Columns of the grid.
        shifts: Its SVGA shifts.

    Returns:
        Tensor: ``(H * W, N)`` int64; row ``r * W + c`` lists node
        ``(r, c)``'s neighbours ``((r + t) mod H, c)`` for the row offsets
        ``t``, then ``(r, (c + t) mod W)`` for the column offsets.
    """
    rows = torch.arange(height).view(-1, 1, 1)
    cols = torch.arange(width).view(1, -1, 1)
    along_rows = (rows + torch.tensor(shifts.rows, dtype=torch.long)) \
        % height * width + cols
    along_cols = rows * width + (
        cols + torch.tensor(shifts.cols, dtype=torch.long)) % width
    return torch.cat([
        along_rows.expand(height, width, -1),
        along_cols.expand(height, width, -1)
    ], -1).reshape(height * width, -1)


class CircularAxis:
    """Circular shifts along one dimension as views into a doubled copy.

    ``shifted(doubled(x), t)`` holds at position ``i`` the input's element
    ``(i + t) mod L``. What is added into the shifted views of a doubled
    buffer lands back on the axis with :meth:`folded` (the adjoint, for
    gradients). Every shift loop of the SVGA operators goes through here.
    """

    def __init__(self, dim: int, length: int):
        self.dim = dim
        self.length = length

    def doubled(self, x: Tensor) -> Tensor:
        """``x`` twice along the axis: every shift is a view into it."""
        return torch.cat([x, x], self.dim)

    def shifted(self, doubled: Tensor, offset: int) -> Tensor:
        """The view of ``doubled`` shifted by ``offset``."""
        return doubled.narrow(self.dim, offset, self.length)

    def folded(self, doubled: Tensor) -> Tensor:
        """The two halves of ``doubled`` added: the sum over every view."""
        return self.shifted(doubled, 0) + self.shifted(doubled, self.length)


def axis_shifted_views(tensors: Sequence[Tensor], dim: int,
                       offsets: Sequence[int]) -> Iterator[List[Tensor]]:
    """Yield the tensors circularly shifted along ``dim`` by each offset in
    turn: one doubled copy of each input, every shift a view into it."""
    axis = CircularAxis(dim, tensors[0].shape[dim])
    doubled = [axis.doubled(t) for t in tensors]
    for offset in offsets:
        yield [axis.shifted(d, offset) for d in doubled]


def shifted_views(
    tensors: Sequence[Tensor],
    shifts: SVGAShifts,
    dims: Tuple[int, int] = (-2, -1)
) -> Iterator[List[Tensor]]:
    """Yield every tensor circularly shifted to each SVGA neighbour in turn.

    Element ``(r, c)`` of a yielded view along the row axis holds the input's
    element ``((r + t) mod H, c)``. Each axis costs one doubled copy of the
    inputs; every shift is then a view into it, so memory does not grow with
    the number of neighbours.

    Args:
        tensors: Tensors of equal shape ``(..., H, W)``.
        shifts: The SVGA shifts.
        dims: The height and width dimensions.

    Yields:
        list[Tensor]: the shifted views, one per input, in input order.
    """
    for dim, offsets in zip(dims, shifts):
        if offsets:
            yield from axis_shifted_views(tensors, dim, offsets)
