"""mmvig.models.vig_cross_attention: the cross-attention aggregation on a kNN
neighbour index (the paper's Table 3 model) against the SVGA operator."""
import math

import pytest
import torch

from mmvig.models.vig_cross_attention import gather_cross_attention
from mmvig.ops import svga_cross_attention, svga_neighbour_index, svga_shifts


@pytest.mark.parametrize('normalize', ['none', 'mean', 'softmax'])
@pytest.mark.parametrize('height,width,stride,max_shifts,heads',
                         [(6, 8, 2, None, 2), (7, 9, 3, 2, 1)])
@pytest.mark.parametrize('impl', ['torch', 'reference'])
def test_gather_path_matches_the_svga_operator(height, width, stride,
                                               max_shifts, heads, normalize,
                                               impl):
    """The kNN-graph path (vanilla ViG's Table 3 model) and the SVGA
    operator: one definition of the equations, same output and gradients
    on the same neighbours (the SVGA graph written as an index)."""
    torch.manual_seed(0)
    shifts = svga_shifts(height, width, stride, max_shifts)
    index = svga_neighbour_index(height, width, shifts)
    q, k, v = (
        torch.randn(
            2, 8, height, width, dtype=torch.float64, requires_grad=True)
        for _ in range(3))
    log_beta = torch.tensor(
        math.log(12.0), dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 8, height, width, dtype=torch.float64)
    inputs = (q, k, v, log_beta)
    svga = svga_cross_attention(q, k, v, log_beta, shifts, heads, normalize,
                                impl)
    nodes = [x.reshape(2, 8, -1, 1) for x in (q, k, v)]
    gather = gather_cross_attention(*nodes, log_beta, index.expand(2, -1, -1),
                                    heads, normalize).reshape(svga.shape)
    torch.testing.assert_close(gather, svga, rtol=1e-10, atol=1e-12)
    for a, b in zip(
            torch.autograd.grad((svga * weights).sum(), inputs),
            torch.autograd.grad((gather * weights).sum(), inputs)):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-11)


def test_gather_path_checks_its_index():
    q = torch.randn(2, 8, 10, 1)
    with pytest.raises(
            ValueError,
            match=r'index \(2, 9, 3\) does not list '
            'the neighbours of 10 nodes of 2 samples'):
        gather_cross_attention(q, q, q, torch.tensor(0.),
                               torch.zeros(2, 9, 3, dtype=torch.long), 2)
