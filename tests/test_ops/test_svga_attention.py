"""mmvig.ops.svga_attention: the SVGA cross-attention operator (every
implementation against the per-node equations and plain autograd, memory,
precision, the implementation choice)."""
import math
import os

import pytest
import torch
import torch.nn.functional as F

from mmvig.models.attention_vig import CrossAttentionAggregation
from mmvig.ops.svga_attention import (IMPLEMENTATIONS, fused_cross_attention,
                                      resolve_impl, svga_cross_attention,
                                      torch_impl)
from mmvig.ops.svga_graph import svga_shifts
from mmvig.testing import svga_neighbour_lists


def direct_cross_attention(q, k, v, beta, nbrs, heads, normalize):
    """Eq. 2-7 for one image, one node and one head at a time."""
    channels = q.shape[0]
    d = channels // heads
    q, k, v = (x.reshape(heads, d, -1) for x in (q, k, v))
    out = torch.zeros_like(v)
    for h in range(heads):
        for i, js in enumerate(nbrs):
            if not js:
                continue
            sims = torch.stack([
                F.cosine_similarity(q[h, :, i], k[h, :, j], 0, eps=1e-6)
                for j in js
            ])
            alpha = torch.exp(-beta * (1 - sims))
            if normalize == 'softmax':
                alpha = alpha / alpha.sum()
            elif normalize == 'mean':
                alpha = alpha / len(js)
            out[h, :, i] = sum(a * v[h, :, j] for a, j in zip(alpha, js))
    return out.reshape(channels, -1)


@pytest.fixture(params=['shifts', 'gemm', 'triton', 'standard'])
def impl(request, monkeypatch):
    """Each path of the operator: the PyTorch path one shift at a time, the
    PyTorch path with batched GEMMs, the Triton kernels (interpreted on
    CPU-only machines) and the standard-operator path of ONNX exports."""
    if request.param == 'triton' and os.environ.get('TRITON_INTERPRET') != '1':
        pytest.skip("runs the kernels in Triton's interpreter (CPU tensors); "
                    'tests/test_triton_kernels.py compiles them')
    if request.param in ('triton', 'standard'):
        return request.param
    dense = request.param == 'gemm'
    monkeypatch.setattr(torch_impl, '_use_dense', lambda *_: dense)
    return 'torch'


# (height, width, stride, max_shifts): stride dividing the axis (neighbours
# are residue classes: 2, 4 or 5 of them), not dividing it, stride 1, and a
# capped graph.
GRIDS = [(5, 6, 2, None), (6, 7, 1, None), (8, 5, 2, 3), (3, 11, 3, None),
         (8, 12, 4, None), (10, 5, 5, None)]


@pytest.mark.parametrize('normalize', ['none', 'mean', 'softmax'])
@pytest.mark.parametrize('heads', [1, 4])
@pytest.mark.parametrize('grid', GRIDS)
@pytest.mark.long
def test_cross_attention_matches_per_node_equations(impl, grid, normalize,
                                                    heads):
    torch.manual_seed(0)
    height, width, stride, max_shifts = grid
    channels = 8
    dtype = torch.float32 if impl == 'triton' else torch.float64
    q, k, v = (
        torch.randn(2, channels, height, width, dtype=dtype) for _ in range(3))
    log_beta = torch.tensor(math.log(3.0), dtype=dtype)
    shifts = svga_shifts(height, width, stride, max_shifts)
    out = svga_cross_attention(q, k, v, log_beta, shifts, heads, normalize,
                               impl)
    nbrs = svga_neighbour_lists(height, width, stride, max_shifts)
    for b in range(2):
        expected = direct_cross_attention(q[b], k[b], v[b], 3.0, nbrs, heads,
                                          normalize)
        torch.testing.assert_close(out[b].reshape(channels, -1), expected)


@pytest.mark.parametrize('normalize', ['none', 'mean', 'softmax'])
@pytest.mark.parametrize('path', [False, True])
def test_cross_attention_gradcheck(normalize, path, monkeypatch):
    monkeypatch.setattr(torch_impl, '_use_dense', lambda *_: path)
    torch.manual_seed(0)
    shape = (2, 2, 3, 5, 4)
    qn = F.normalize(torch.randn(shape, dtype=torch.float64), dim=2)
    kn = F.normalize(torch.randn(shape, dtype=torch.float64), dim=2)
    v = torch.randn(shape, dtype=torch.float64)
    beta = torch.tensor(4.0, dtype=torch.float64)
    inputs = [t.requires_grad_() for t in (qn, kn, v, beta)]
    shifts = svga_shifts(5, 4, 2)
    assert torch.autograd.gradcheck(
        lambda *x: fused_cross_attention(*x, shifts, normalize), inputs)


@pytest.mark.parametrize('normalize', ['none', 'mean', 'softmax'])
@pytest.mark.long
def test_operator_matches_plain_autograd(impl, normalize):
    torch.manual_seed(0)
    q, k, v = (
        torch.randn(2, 16, 13, 10, requires_grad=True) for _ in range(3))
    log_beta = torch.tensor(2.0, requires_grad=True)
    shifts = svga_shifts(13, 10, 2)
    grads = []
    for fn_impl in (impl, 'reference'):
        out = svga_cross_attention(q, k, v, log_beta, shifts, 4, normalize,
                                   fn_impl)
        grads.append((out, ) + torch.autograd.grad(
            (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(),
            (q, k, v, log_beta)))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _saved_bytes(fn) -> int:
    """Bytes autograd keeps for the backward pass of ``fn()``."""
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(saved)


@pytest.mark.parametrize('normalize', ['none', 'softmax'])
def test_saved_state_does_not_grow_with_neighbours(normalize):
    q, k, v = (
        torch.randn(1, 16, 24, 24, requires_grad=True) for _ in range(3))
    log_beta = torch.tensor(1.0, requires_grad=True)
    saved = {}
    for impl in ('auto', 'reference'):
        for stride in (1, 12):  # 46 and 2 neighbours
            shifts = svga_shifts(24, 24, stride)
            saved[impl, stride] = _saved_bytes(lambda: svga_cross_attention(
                q, k, v, log_beta, shifts, 4, normalize, impl))
    assert saved['auto', 1] == saved['auto', 12]
    assert saved['reference', 1] > 10 * saved['reference', 12]
    assert saved['auto', 1] < saved['reference', 1] / 10


def test_unknown_impl_is_rejected():
    x = torch.randn(1, 8, 4, 4)
    with pytest.raises(ValueError, match='impl must be one of'):
        svga_cross_attention(
            x, x, x, torch.tensor(0.), svga_shifts(4, 4, 2), 2, impl='cuda')


def test_one_vocabulary_chooses_the_implementation(monkeypatch):
    """``impl`` is resolved in one place; the fused operator takes only the
    implementations it runs."""
    monkeypatch.delenv('TRITON_INTERPRET', raising=False)
    x = torch.randn(1, 8, 4, 4)
    resolved = {}
    for impl in IMPLEMENTATIONS:
        try:
            resolved[impl] = resolve_impl(impl, x)
        except ValueError as error:
            resolved[impl] = str(error)
    assert resolved['auto'] == 'torch'  # CPU tensors: no kernels
    assert resolved['torch'] == 'torch'
    assert resolved['standard'] == 'standard'
    assert resolved['reference'] == 'reference'
    assert "impl='triton' needs CUDA tensors" in resolved['triton']
    with pytest.raises(ValueError, match='the fused operator runs impl'):
        fused_cross_attention(
            x.view(1, 2, 4, 4, 4), x.view(1, 2, 4, 4,
                                          4), x.view(1, 2, 4, 4, 4),
            torch.tensor(1.), svga_shifts(4, 4, 2), 'none', 'standard')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_auto_uses_triton_on_cuda(monkeypatch):
    calls = []
    from mmvig.ops.svga_attention import triton_kernels
    real = triton_kernels.forward
    monkeypatch.setattr(triton_kernels, 'forward',
                        lambda *a: calls.append(1) or real(*a))
    x = torch.randn(1, 8, 6, 6, device='cuda')
    svga_cross_attention(x, x, x, torch.tensor(0., device='cuda'),
                         svga_shifts(6, 6, 2), 2)
    assert calls


def test_zero_vectors_and_extreme_beta_stay_finite():
    q = torch.zeros(1, 8, 4, 4)
    k = torch.zeros(1, 8, 4, 4)
    v = torch.randn(1, 8, 4, 4)
    shifts = svga_shifts(4, 4, 1)
    for log_beta in (torch.tensor(100.0), torch.tensor(-100.0)):
        for normalize in ('none', 'mean', 'softmax'):
            out = svga_cross_attention(q.clone().requires_grad_(), k, v,
                                       log_beta, shifts, 2, normalize)
            assert torch.isfinite(out).all()
            out.sum().backward()


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_half_precision_accumulates_in_float32(dtype):
    # Large activations, a sharp kernel and 46 neighbours: sums done in half
    # precision would drift; in float32 the only error left is rounding the
    # output to the half dtype.
    torch.manual_seed(0)
    q, k, v = ((torch.randn(1, 16, 24, 24) * 50).to(dtype) for _ in range(3))
    log_beta = torch.tensor(math.log(30.0))
    shifts = svga_shifts(24, 24, 1)
    out = svga_cross_attention(q, k, v, log_beta.to(dtype), shifts, 8, 'none')
    expected = svga_cross_attention(q.float(), k.float(), v.float(),
                                    log_beta.to(dtype).float(), shifts, 8,
                                    'none')
    assert out.dtype == dtype and torch.isfinite(out).all()
    torch.testing.assert_close(out, expected.to(dtype))


def test_log_beta_receives_gradient_under_autocast():
    agg = CrossAttentionAggregation(16, num_heads=4)
    x = torch.randn(2, 16, 9, 9)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = agg(x, svga_shifts(9, 9, 2))
    out.float().square().mean().backward()
    assert agg.log_beta.grad is not None and agg.log_beta.grad.abs() > 0
