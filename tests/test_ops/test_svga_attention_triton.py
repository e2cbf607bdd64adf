"""mmvig.ops.svga_attention.triton_kernels: the Triton kernels (values in
Triton's interpreter without a GPU, grids, the fallback, and ahead-of-time
compilation for sm_80 / sm_90)."""
import json
import math
import os
import sys

import numpy as np
import pytest
import torch
from triton.runtime import interpreter

from mmvig.errors import KernelError
from mmvig.ops.svga_attention import (dispatch, fused_cross_attention,
                                      reference_cross_attention,
                                      svga_cross_attention)
from mmvig.ops.svga_attention import triton_kernels as kernels
from mmvig.ops.svga_graph import residue_classes, svga_shifts
from mmvig.testing import run_tool

triton = pytest.importorskip('triton')

# The value and fallback tests run the kernels on CPU tensors in Triton's
# interpreter (tests/conftest.py sets it where there is no GPU).
interpreted = pytest.mark.skipif(
    os.environ.get('TRITON_INTERPRET') != '1',
    reason="runs the kernels in Triton's interpreter (CPU tensors)")


def _tf32(data: np.ndarray) -> np.ndarray:
    """float32 values as a TF32 tensor core reads them: 10 mantissa bits."""
    return (data.view(np.uint32) & np.uint32(0xFFFFE000)).view(np.float32)


@pytest.fixture
def tf32_tensor_cores(monkeypatch):
    """The interpreter's ``tl.dot`` with ``input_precision='tf32'`` reads its
    float32 operands as a GPU's TF32 tensor cores do (the interpreter
    itself computes every dot in float32)."""
    real = interpreter.InterpreterBuilder.create_dot
    tf32 = triton._C.libtriton.ir.INPUT_PRECISION.TF32

    def create_dot(self, a, b, d, input_precision, max_num_imprecise_acc):
        if input_precision == tf32 and a.data.dtype == np.float32:
            a = interpreter.TensorHandle(_tf32(a.data), a.dtype)
            b = interpreter.TensorHandle(_tf32(b.data), b.dtype)
        return real(self, a, b, d, input_precision, max_num_imprecise_acc)

    monkeypatch.setattr(interpreter.InterpreterBuilder, 'create_dot',
                        create_dot)


@triton.jit
def _weights_kernel(Q, K, PLAIN, SPLIT):
    """``exp(30 (q.k - 1))`` of 16 x 16 unit vectors from a plain TF32 product
    and from the kernels' split one."""
    tl = triton.language
    i = tl.arange(0, 16)
    offsets = i[:, None] * 16 + i[None, :]
    q = tl.load(Q + offsets)
    k = tl.load(K + offsets)
    zeros = tl.zeros([16, 16], dtype=tl.float32)
    plain = tl.dot(q, k, zeros, input_precision='tf32')
    tl.store(PLAIN + offsets, tl.exp(30. * (plain - 1.)))
    tl.store(SPLIT + offsets, tl.exp(30. * (kernels._dot(q, k, zeros) - 1.)))


@interpreted
def test_split_products_are_float32_accurate_where_tf32_is_not(
        tf32_tensor_cores):
    """The control of the emulation: at beta 30, the weights from a plain
    TF32 product of unit vectors are off by far more than 1e-4; those from
    the kernels' three-product split are float32-accurate."""
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(16, 16), dim=1)
    k = torch.nn.functional.normalize(torch.randn(16, 16), dim=0)
    k[:, 0] = q[0]  # one pair with cos = 1, weight 1
    expected = torch.exp(30. * (q.double() @ k.double() - 1.))
    plain, split = torch.empty(16, 16), torch.empty(16, 16)
    _weights_kernel[(1, )](q, k, plain, split)
    assert float((plain - expected).abs().max()) > 1e-3
    assert float((split - expected).abs().max()) < 1e-5


# (height, width, stride, max_shifts): both axes dense, several blocks and
# loop iterations (a 140-long column: 70 per residue class), odd sides and a
# stride that divides neither (shift kernels), dense next to shifts, stride 1
# (one class: the whole line), and a capped graph whose stride does not
# divide.
GRIDS = [(8, 6, 2, None), (140, 6, 2, None), (7, 9, 2, None), (9, 8, 2, None),
         (5, 6, 1, None), (12, 10, 2, 2)]


def _check_against_float64_reference(grid, normalize: str,
                                     device: str) -> None:
    torch.manual_seed(0)
    height, width, stride, max_shifts = grid
    shifts = svga_shifts(height, width, stride, max_shifts)
    q, k, v = (
        torch.randn(
            2,
            12,
            height,
            width,
            dtype=torch.float64,
            device=device,
            requires_grad=True) for _ in range(3))
    log_beta = torch.tensor(
        math.log(30.0), dtype=torch.float64, device=device, requires_grad=True)
    weights = torch.randn(
        2, 12, height, width, dtype=torch.float64, device=device)
    results = []
    for impl in ('triton', 'reference'):
        dtype = torch.float32 if impl == 'triton' else torch.float64
        inputs = [t.to(dtype) for t in (q, k, v, log_beta)]
        out = (
            svga_cross_attention(*inputs, shifts, 2, normalize, impl)
            if impl == 'triton' else reference_cross_attention(
                *inputs, shifts, 2, normalize))
        grads = torch.autograd.grad((out * weights.to(dtype)).sum(),
                                    (q, k, v, log_beta))
        results.append([out.double(), *(g.double() for g in grads)])
    # dlog_beta is one sum over every edge, with cancellation (with softmax
    # each node's logit gradients sum to zero): float32 arithmetic leaves
    # more of an error there (up to 1.3e-4 measured here; 2.5e-5 on the
    # PyTorch path in float32), harmless for one scalar's gradient.
    bounds = dict(out=1e-4, dq=1e-4, dk=1e-4, dv=1e-4, dlog_beta=5e-4)
    for (name, bound), a, b in zip(bounds.items(), *results):
        error = float((a - b).abs().max() / b.abs().max())
        assert error < bound, f'{name}: relative error {error:.2e}'


@interpreted
@pytest.mark.parametrize('normalize', ['none', 'mean', 'softmax'])
@pytest.mark.parametrize('grid', GRIDS)
@pytest.mark.long
def test_kernels_match_float64_reference_at_beta_30(grid, normalize,
                                                    tf32_tensor_cores):
    _check_against_float64_reference(grid, normalize, 'cpu')


# The same on a GPU's CUDA tensors (real TF32 tensor cores, compiled
# kernels), at the grids above and a stage-1 map of a 400x672 image.
def on_gpu(test):
    return pytest.mark.gpu(
        pytest.mark.skipif(
            not torch.cuda.is_available(), reason='needs a CUDA GPU')(test))


@pytest.mark.parametrize('normalize', ['none', 'mean', 'softmax'])
@pytest.mark.parametrize('grid', GRIDS + [(100, 168, 2, None)])
@on_gpu
def test_cuda_kernels_match_float64_reference(grid, normalize):
    _check_against_float64_reference(grid, normalize, 'cuda')


@on_gpu
def test_cuda_auto_runs_the_kernels_and_autocast(recwarn):
    """On CUDA tensors ``auto`` runs the Triton kernels (no fallback
    warning), and under bf16 autocast the result stays finite and close to
    float32."""
    torch.manual_seed(0)
    shifts = svga_shifts(50, 84, 2)
    q, k, v = (torch.randn(2, 64, 50, 84, device='cuda') for _ in range(3))
    log_beta = torch.tensor(math.log(10.0), device='cuda')
    full = svga_cross_attention(q, k, v, log_beta, shifts, 8)
    assert not [w for w in recwarn if 'PyTorch' in str(w.message)]
    torch_path = svga_cross_attention(
        q, k, v, log_beta, shifts, 8, impl='torch')
    assert float(
        (full - torch_path).abs().max() / torch_path.abs().max()) < 1e-4
    with torch.autocast('cuda', dtype=torch.bfloat16):
        half = svga_cross_attention(q, k, v, log_beta, shifts, 8)
    assert torch.isfinite(half).all()
    assert float((half.float() - full).abs().max() / full.abs().max()) < 0.05


def test_grids_cover_both_kernel_families():
    paths = set()
    for height, width, stride, max_shifts in GRIDS:
        shifts = svga_shifts(height, width, stride, max_shifts)
        for length, offsets in ((height, shifts.rows), (width, shifts.cols)):
            if offsets:
                paths.add(residue_classes(length, offsets) > 1)
    assert paths == {True, False}
    long_axis = kernels.launches((2, 2, 6, 140, 6), svga_shifts(140, 6, 2),
                                 'none')[0]
    assert long_axis.grid[0] > 1 and long_axis.iterations > 1


def _failing(monkeypatch, kernel, message='ptxas fatal: unsupported arch'):

    def run(*args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(kernel, 'run', run)


def _inputs(requires_grad=False):
    torch.manual_seed(0)
    shape = (1, 2, 4, 6, 8)
    qn = torch.nn.functional.normalize(torch.randn(shape), dim=2)
    kn = torch.nn.functional.normalize(torch.randn(shape), dim=2)
    v = torch.randn(shape)
    beta = torch.tensor(5.0)
    return [t.requires_grad_(requires_grad) for t in (qn, kn, v, beta)]


@interpreted
@pytest.mark.parametrize(
    'failing', ['_dense_forward_kernel', '_dense_grad_key_value_kernel'])
def test_auto_falls_back_once_with_a_warning(failing, monkeypatch):
    monkeypatch.setattr(dispatch, 'TRITON_FALLBACK', dispatch.TritonFallback())
    _failing(monkeypatch, getattr(kernels, failing))
    shifts = svga_shifts(6, 8, 2)
    inputs = _inputs(requires_grad=True)
    expected = fused_cross_attention(*inputs, shifts, 'softmax', 'torch')
    expected_grads = torch.autograd.grad(expected.sum(), inputs)
    with pytest.warns(RuntimeWarning) as record:
        out = fused_cross_attention(*inputs, shifts, 'softmax', 'auto')
        grads = torch.autograd.grad(out.sum(), inputs)
    assert len(record) == 1
    text = str(record[0].message)
    assert failing in text and 'ptxas fatal' in text
    assert "impl='torch'" in text
    torch.testing.assert_close(out, expected)
    for a, b in zip(grads, expected_grads):
        torch.testing.assert_close(a, b)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no second warning
        fused_cross_attention(*inputs, shifts, 'softmax', 'auto')
    assert failing in dispatch.TRITON_FALLBACK.cause
    # after a reset the kernels are tried again: the failure warns again
    dispatch.TRITON_FALLBACK.reset()
    with pytest.warns(RuntimeWarning, match=failing):
        out = fused_cross_attention(*inputs, shifts, 'softmax', 'auto')
        torch.autograd.grad(out.sum(), inputs)


@interpreted
def test_triton_impl_raises_with_the_cause_and_the_way_out(monkeypatch):
    monkeypatch.setattr(dispatch, 'TRITON_FALLBACK', dispatch.TritonFallback())
    _failing(monkeypatch, kernels._dense_forward_kernel,
             'Failed to find C compiler. Please specify via CC')
    with pytest.raises(KernelError, match=r"C compiler.*impl='torch'"):
        fused_cross_attention(*_inputs(), svga_shifts(6, 8, 2), 'none',
                              'triton')
    assert not dispatch.TRITON_FALLBACK.active


@interpreted
def test_missing_triton_is_a_failure_auto_survives(monkeypatch):
    monkeypatch.setattr(dispatch, 'TRITON_FALLBACK', dispatch.TritonFallback())
    import mmvig.ops.svga_attention
    monkeypatch.setitem(sys.modules, 'mmvig.ops.svga_attention.triton_kernels',
                        None)
    monkeypatch.delattr(mmvig.ops.svga_attention, 'triton_kernels')
    with pytest.warns(RuntimeWarning, match='import triton'):
        out = fused_cross_attention(*_inputs(), svga_shifts(6, 8, 2), 'none',
                                    'auto')
    torch.testing.assert_close(
        out,
        fused_cross_attention(*_inputs(), svga_shifts(6, 8, 2), 'none',
                              'torch'))


@pytest.mark.parametrize('size', [(56, 56), (200, 336), (25, 42), (7, 7)])
def test_launch_arguments_are_host_integers(size):
    """No tensor is built per call (a CUDA graph replays launches, not host
    to device copies): every argument but the caller's tensors is a Python
    number."""
    shape = (2, 8, 6) + size
    for normalize in ('none', 'softmax'):
        for backward in (False, True):
            for launch in kernels.launches(shape, svga_shifts(*size, 2),
                                           normalize, backward):
                assert all(
                    type(v) in (int, bool)
                    for v in launch.scalars.values()), launch.scalars
                assert all(type(g) is int for g in launch.grid)


@pytest.mark.slow
def test_every_kernel_compiles_for_sm80_and_sm90_without_spills(tmp_path):
    """Every launch of the forward and backward pass at the shapes of
    AttentionViG-S and -B at 224 and 800x1344, compiled ahead of time for
    the A100 and the H100/H200 (no GPU needed): no compile error, no spill,
    every product in TF32 (split in three by the kernels)."""
    out = tmp_path / 'static.json'
    run_tool(
        os.path.join('benchmarks', 'triton_static.py'),
        '--json',
        out,
        env=dict(TRITON_INTERPRET=None),
        timeout=None)
    figures = json.loads(out.read_text())
    # 2 models x 2 sizes x 4 stages x 2 normalisations x 2 passes x 2 archs
    assert len(figures) == 2 * 2 * 4 * 2 * 2 * 2
    spilling = {k: f['spills'] for k, f in figures.items() if f['spills']}
    assert not spilling
    assert {p for f in figures.values() for p in f['precisions']} == {'tf32'}
