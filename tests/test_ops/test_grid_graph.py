"""mmvig.ops.grid_graph: SAG-ViT's k-connectivity graph and its
similarity edge weights against their definition."""
import pytest
import torch
import torch.nn.functional as F

import mmvig  # noqa: F401
from mmvig.ops.grid_graph import k_connectivity_graph, similarity_edge_weights


@pytest.mark.parametrize('height,width,k', [(4, 5, 1), (5, 3, 2), (2, 6, 1),
                                            (6, 6, 3)])
def test_k_connectivity_matches_direct_neighbour_sets(height, width, k):
    graph = k_connectivity_graph(height, width, k)
    assert graph.index.shape == graph.mask.shape == (height * width,
                                                     (2 * k + 1)**2)
    for node in range(height * width):
        r, c = divmod(node, width)
        expected = {
            rr * width + cc
            for rr in range(height)
            for cc in range(width) if max(abs(rr - r), abs(cc - c)) <= k
        }
        valid = graph.index[node][graph.mask[node]].tolist()
        assert len(valid) == len(set(valid)) and set(valid) == expected
        for slot, (dr, dc) in enumerate(graph.offsets.tolist()):
            inside = 0 <= r + dr < height and 0 <= c + dc < width
            assert bool(graph.mask[node, slot]) == inside
            if inside:
                assert graph.index[node, slot] == (r + dr) * width + c + dc


def test_edge_weights_are_cosine_similarities_of_the_endpoints():
    torch.manual_seed(0)
    x = torch.randn(2, 12, 5, dtype=torch.float64)
    graph = k_connectivity_graph(3, 4, 1)
    weights = similarity_edge_weights(x, graph)
    assert weights.shape == (2, 12, 9)
    for b in range(2):
        for i in range(12):
            for slot in range(9):
                j = int(graph.index[i, slot])
                expected = (
                    F.cosine_similarity(x[b, i], x[b, j], dim=0)
                    if graph.mask[i, slot] else 0.)
                assert float(weights[b, i, slot]) == pytest.approx(
                    float(expected), abs=1e-12)
