"""k-connectivity graphs of patch grids (SAG-ViT).

Node ``(r, c)`` of an ``H x W`` patch grid is linked to every node
``(r + dr, c + dc)`` inside the grid with ``max(|dr|, |dc|) <= k`` (itself
included, GAT's self-loop), and each edge is weighted by the cosine similarity
of the two nodes' features. Neighbours are a fixed ``(N, (2k+1)^2)`` index
table per grid size; edge weights for a whole batch are one gather.

The SVGA graph of AttentionViG lives with its operator, in
:mod:`mmvig.ops.svga_graph`.
"""
import functools
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InputError


class GridGraph(NamedTuple):
    """k-connectivity graph of an ``H x W`` grid, nodes in row-major order.

    Attributes:
        index: ``(N, K)`` neighbour ids, ``K = (2k+1)^2``, in the order of
            :attr:`offsets`; a slot whose neighbour falls outside the grid
            holds the node's own id and is masked out.
        mask: ``(N, K)`` bool, True for the neighbours inside the grid.
        offsets: ``(K, 2)`` ``(dr, dc)`` of every slot.
    """
    index: Tensor
    mask: Tensor
    offsets: Tensor

    @property
    def num_nodes(self) -> int:
        return self.index.shape[0]


@functools.lru_cache(maxsize=32)
def k_connectivity_graph(
    height: int,
    width: int,
    k: int,
    device: torch.device = torch.device('cpu')) -> GridGraph:
    """Neighbour table of the k-connectivity graph of an ``H x W`` grid.

    Raises:
        InputError: ``k < 1`` or an empty grid.
    """
    if k < 1:
        raise InputError(f'k-connectivity needs k >= 1, got {k}')
    if height < 1 or width < 1:
        raise InputError(f'Empty {height}x{width} grid')
    steps = torch.arange(-k, k + 1, device=device)
    offsets = torch.cartesian_prod(steps, steps)  # (K, 2)
    ids = torch.arange(height * width, device=device)
    rows, cols = ids // width, ids % width
    nr = rows[:, None] + offsets[:, 0]
    nc = cols[:, None] + offsets[:, 1]
    mask = (nr >= 0) & (nr < height) & (nc >= 0) & (nc < width)
    own = (rows * width + cols)[:, None].expand_as(nr)
    index = torch.where(mask, nr * width + nc, own)
    return GridGraph(index, mask, offsets)


def similarity_edge_weights(x: Tensor,
                            graph: GridGraph,
                            eps: float = 1e-6) -> Tensor:
    """Cosine similarity of every node with each of its neighbours.

    Args:
        x: Node features ``(B, N, C)``.
        graph: The grid's neighbour table.

    Returns:
        Tensor: ``(B, N, K)`` edge weights in ``[-1, 1]``, ``0`` on masked
        slots.
    """
    unit = F.normalize(x, dim=-1, eps=eps)
    neighbours = unit[:, graph.index]  # (B, N, K, C)
    cos = (unit[:, :, None, :] * neighbours).sum(-1)
    return cos.masked_fill(~graph.mask, 0.)
