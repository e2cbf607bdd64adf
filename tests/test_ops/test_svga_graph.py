"""mmvig.ops.svga_graph: the SVGA shifts and neighbour index against their
definition."""
import pytest
import torch

from mmvig.ops.svga_graph import svga_shifts
from mmvig.testing import svga_neighbour_lists


@pytest.mark.parametrize('height,width,stride,max_shifts', [(5, 7, 2, None),
                                                            (6, 6, 1, None),
                                                            (9, 4, 2, 2),
                                                            (3, 11, 3, None),
                                                            (1, 6, 2, None)])
def test_svga_shifts_match_definition(height, width, stride, max_shifts):
    shifts = svga_shifts(height, width, stride, max_shifts)
    lists = svga_neighbour_lists(height, width, stride, max_shifts)
    idx = torch.arange(height * width).reshape(height, width)
    from_shifts = [[] for _ in range(height * width)]
    for t in shifts.rows:
        for i, j in zip(idx.flatten(), torch.roll(idx, -t, 0).flatten()):
            from_shifts[i].append(int(j))
    for t in shifts.cols:
        for i, j in zip(idx.flatten(), torch.roll(idx, -t, 1).flatten()):
            from_shifts[i].append(int(j))
    assert from_shifts == lists
    assert all(i not in nbrs for i, nbrs in enumerate(lists))
    if max_shifts is not None:
        assert len(shifts.rows) <= max_shifts and len(
            shifts.cols) <= max_shifts


def test_max_shifts_keeps_neighbour_count_fixed():
    counts = {svga_shifts(s, s, 2, 4).num_neighbours for s in (40, 80, 200)}
    assert counts == {8}
    assert svga_shifts(200, 200, 2).num_neighbours == 2 * 99


@pytest.mark.parametrize('height,width,stride,max_shifts', [(5, 7, 2, None),
                                                            (9, 4, 2, 2),
                                                            (1, 6, 2, None)])
def test_svga_neighbour_index_is_the_definition(height, width, stride,
                                                max_shifts):
    from mmvig.ops import svga_neighbour_index
    index = svga_neighbour_index(
        height, width, svga_shifts(height, width, stride, max_shifts))
    assert index.tolist() == svga_neighbour_lists(height, width, stride,
                                                  max_shifts)
