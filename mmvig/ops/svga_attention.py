"""Cross-attention aggregation over SVGA neighbours (AttentionViG, Eq. 2-7).

For node ``i``, head ``h`` and each SVGA neighbour ``j`` of ``i``::

    s_ij     = cos(q_i, k_j)
    alpha_ij = exp(-beta * (1 - s_ij))
    m_i      = sum_j w_ij * v_j

with ``w = alpha`` (the paper's best variant), ``w = alpha / N`` (``'mean'``)
or ``w = softmax_j(-beta * (1 - s_ij))`` (``'softmax'``).

One operator computes all of it (every shift, head and normalisation). Its
backward pass recomputes the weights from ``q``, ``k``, ``v`` and ``beta``
instead of reading stored per-neighbour tensors, so what it keeps for the
backward pass does not depend on the number of neighbours. Implementations:

* Triton kernels for CUDA tensors (:mod:`.svga_attention_triton`): dense
  attention over residue classes on tensor cores where the stride divides
  the axis, one shift at a time elsewhere. If they fail to compile or launch
  under ``impl='auto'``, the operator warns once, naming the cause, and runs
  on the PyTorch path for the rest of the process;
* PyTorch elsewhere. Every SVGA neighbour of a node lies on the node's row or
  column, so each axis is attention along rows (columns) under a circulant
  mask: axes with many neighbours run as batched GEMMs over chunks of rows
  (:class:`_AxisSequences`), the others one circular shift at a time with
  running sums. Softmax combines the two axes' partial sums online.

Both are wrapped as ``torch.library`` custom ops (forward and backward), which
``torch.compile`` keeps whole. All arithmetic is in float32 for half inputs
(autocast included), float64 for float64 inputs on the PyTorch path.
:func:`standard_cross_attention` computes the same with standard operators
only (batched MatMul over residue classes): what an ONNX export writes.
:func:`reference_cross_attention` is the plain autograd loop over shifts,
kept as the reference for tests and benchmarks.
:func:`gather_cross_attention` is the same aggregation on an arbitrary
neighbour index (vanilla ViG's kNN graph, the paper's Table 3), with the
same head split, cosine and ``beta`` clamp (:func:`_split_heads`' parts).
"""
import functools
import importlib.util
import math
import os
import warnings
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..errors import InputError, KernelError, KernelFallbackWarning
from .svga_graph import SVGAShifts, residue_classes, shift_axes, shifted_views

NORMALIZATIONS = ('none', 'mean', 'softmax')
# beta = exp(log_beta) is clamped to [exp(-10), exp(10)] = [4.5e-5, 2.2e4]:
# finite in every dtype, and far outside the 5-30 the paper reports.
LOG_BETA_RANGE = (-10.0, 10.0)
COSINE_EPS = 1e-6
IMPLEMENTATIONS = ('auto', 'triton', 'torch', 'standard', 'reference')
# The PyTorch path aggregates an axis with batched GEMMs from this many
# neighbours per axis on (see ``_use_dense``), and bounds each GEMM batch's
# logits to this many values (2 MB in float32: the logits of a chunk stay in
# the CPU's cache between the GEMMs and the exp).
DENSE_MIN_NEIGHBOURS = 8
DENSE_CHUNK_ELEMENTS = 1 << 19


def check_normalize(normalize: str) -> None:
    """Raise :class:`InputError` unless ``normalize`` is one of
    :data:`NORMALIZATIONS`."""
    if normalize not in NORMALIZATIONS:
        raise InputError(f'normalize must be one of {NORMALIZATIONS}, '
                         f'got {normalize!r}')


def check_impl(impl: str) -> None:
    """Raise :class:`InputError` unless ``impl`` is one of
    :data:`IMPLEMENTATIONS`."""
    if impl not in IMPLEMENTATIONS:
        raise InputError(f'impl must be one of {IMPLEMENTATIONS}, '
                         f'got {impl!r}')


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-head dot product over the channel dim:
    ``(B,h,d,H,W) -> (B,h,1,H,W)``."""
    return (a * b).sum(2, keepdim=True)


class _Partial(NamedTuple):
    """One axis's share of the aggregation, before normalisation.

    ``acc = sum_j exp(logit_ij - m_i) v_j`` and ``s = sum_j exp(logit_ij -
    m_i)`` with ``m_i`` the node's largest logit on the axis; without softmax
    ``m`` and ``s`` are ``None`` and ``acc`` is ``sum_j exp(logit_ij) v_j``.
    """
    acc: Tensor
    m: Optional[Tensor]
    s: Optional[Tensor]


# --- PyTorch path, one circular shift at a time ---------------------------


def _doubled(x: Tensor, dim: int) -> Tensor:
    return torch.cat([x, x], dim)


def _shift_forward(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor, dim: int,
                   offsets: Sequence[int], softmax: bool) -> _Partial:
    length = kn.shape[dim]
    kn2, v2 = _doubled(kn, dim), _doubled(v, dim)
    acc = torch.zeros_like(v)
    run_max = run_sum = None
    if softmax:
        run_max = torch.full_like(qn[:, :, :1], -math.inf)
        run_sum = torch.zeros_like(run_max)
    for offset in offsets:
        v_s = v2.narrow(dim, offset, length)
        logit = _dot(qn, kn2.narrow(dim, offset, length)).sub_(1).mul_(beta)
        if softmax:
            new_max = torch.maximum(run_max, logit)
            rescale = (run_max - new_max).exp_()
            weight = (logit - new_max).exp_()
            run_sum.mul_(rescale).add_(weight)
            acc.mul_(rescale).addcmul_(weight, v_s)
            run_max = new_max
        else:
            acc.addcmul_(logit.exp_(), v_s)
    return _Partial(acc, run_max, run_sum)


def _shift_backward(
        qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor, dim: int,
        offsets: Sequence[int], grad: Tensor, lse: Optional[Tensor],
        delta: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    length = kn.shape[dim]
    kn2, v2 = _doubled(kn, dim), _doubled(v, dim)
    grad_q = torch.zeros_like(qn)
    grad_k2 = torch.zeros_like(kn2)
    grad_v2 = torch.zeros_like(v2)
    grad_beta = qn.new_zeros((), dtype=torch.float64)
    for offset in offsets:
        kn_s = kn2.narrow(dim, offset, length)
        cos_m1 = _dot(qn, kn_s).sub_(1)
        logit = cos_m1 * beta
        weight = (logit - lse).exp_() if lse is not None else logit.exp_()
        grad_v2.narrow(dim, offset, length).addcmul_(weight, grad)
        grad_w = _dot(grad, v2.narrow(dim, offset, length))
        if delta is not None:
            grad_w.sub_(delta)
        grad_logit = grad_w.mul_(weight)
        grad_beta += (grad_logit * cos_m1).sum(dtype=torch.float64)
        grad_cos = grad_logit.mul_(beta)
        grad_q.addcmul_(grad_cos, kn_s)
        grad_k2.narrow(dim, offset, length).addcmul_(grad_cos, qn)
    grad_k = grad_k2.narrow(dim, 0, length) + grad_k2.narrow(
        dim, length, length)
    grad_v = grad_v2.narrow(dim, 0, length) + grad_v2.narrow(
        dim, length, length)
    return grad_q, grad_k, grad_v, grad_beta


# --- PyTorch path, all neighbours of an axis at once (batched GEMMs) -----


class _AxisSequences:
    """The neighbour sets of one axis as masked attention over sequences.

    Every SVGA neighbour of a node lies on the node's own row (or column), so
    one axis's aggregation is attention along rows (columns) with a fixed
    circulant mask. When the stride ``K`` divides the axis length, a node's
    neighbours are exactly the other members of its residue class mod ``K``,
    and the sequences are those classes (no masked-out work but the
    diagonal); otherwise they are whole rows (columns) under the mask.
    ``(B, h, d, H, W)`` tensors become ``(N, L, d)`` batches of sequences.
    """

    def __init__(self, shape: torch.Size, dim: int, offsets: Sequence[int]):
        length = shape[dim]
        self.groups = residue_classes(length, offsets)
        self.seq_len = length // self.groups
        self.dim = dim
        self.shape = shape
        idx = torch.arange(self.seq_len)
        if self.groups > 1:
            self.mask = idx[:, None] != idx[None, :]
        else:
            rel = (idx[None, :] - idx[:, None]) % length
            self.mask = torch.isin(rel, torch.tensor(list(offsets)))

    def bias(self, like: Tensor) -> Tensor:
        """``(L, L)``: 0 on edges, -inf elsewhere."""
        bias = torch.zeros(self.mask.shape, dtype=like.dtype)
        return bias.masked_fill_(~self.mask, -math.inf).to(like.device)

    def to_seq(self, x: Tensor) -> Tensor:
        """``(B, h, d, H, W) -> (N, L, d)``, one copy."""
        batch, heads, depth, height, width = x.shape
        if self.dim == 3:  # sequences run down the columns
            x = x.reshape(batch, heads, depth, self.seq_len, self.groups,
                          width)
            x = x.permute(0, 1, 5, 4, 3, 2)
        else:
            x = x.reshape(batch, heads, depth, height, self.seq_len,
                          self.groups)
            x = x.permute(0, 1, 3, 5, 4, 2)
        return x.reshape(-1, self.seq_len, depth)

    def from_seq(self, x: Tensor) -> Tensor:
        """``(N, L, d) -> (B, h, d, H, W)`` contiguous, one copy."""
        batch, heads, _, height, width = self.shape
        depth = x.shape[-1]
        other = width if self.dim == 3 else height
        x = x.reshape(batch, heads, other, self.groups, self.seq_len, depth)
        order = (0, 1, 5, 4, 3, 2) if self.dim == 3 else (0, 1, 5, 2, 4, 3)
        return x.permute(order).reshape(batch, heads, depth, height, width)

    def chunks(self, num: int) -> Iterator[slice]:
        """Slices of the ``N`` sequences whose ``(L, L)`` logits together
        hold at most ``DENSE_CHUNK_ELEMENTS`` values."""
        step = max(1, DENSE_CHUNK_ELEMENTS // self.seq_len**2)
        for start in range(0, num, step):
            yield slice(start, start + step)


def _use_dense(length: int, offsets: Sequence[int]) -> bool:
    """Batched GEMMs pay off when an axis has many neighbours and the masked
    sequences waste at most 4x the work of the neighbours themselves."""
    if len(offsets) < DENSE_MIN_NEIGHBOURS:
        return False
    seq_len = length // residue_classes(length, offsets)
    return seq_len <= 4 * len(offsets)


def _dense_forward(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor, dim: int,
                   offsets: Sequence[int], softmax: bool) -> _Partial:
    seqs = _AxisSequences(qn.shape, dim, offsets)
    q, k, vs = (seqs.to_seq(x) for x in (qn, kn, v))
    beta = float(beta)
    bias = seqs.bias(q) - beta
    acc = torch.empty_like(vs)
    m = s = None
    if softmax:
        m, s = (q.new_empty(q.shape[0], q.shape[1], 1) for _ in range(2))
    for sl in seqs.chunks(q.shape[0]):
        # beta * (cos - 1), -inf off the graph
        logit = torch.baddbmm(bias, q[sl], k[sl].transpose(1, 2), alpha=beta)
        if softmax:
            m[sl] = logit.amax(-1, keepdim=True)
            logit.sub_(m[sl])
        weight = logit.exp_()
        if softmax:
            s[sl] = weight.sum(-1, keepdim=True)
        torch.bmm(weight, vs[sl], out=acc[sl])
    return _Partial(
        seqs.from_seq(acc),
        *(None if t is None else seqs.from_seq(t) for t in (m, s)))


def _dense_backward(
        qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor, dim: int,
        offsets: Sequence[int], grad: Tensor, lse: Optional[Tensor],
        delta: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    seqs = _AxisSequences(qn.shape, dim, offsets)
    q, k, vs, g = (seqs.to_seq(x) for x in (qn, kn, v, grad))
    lse, delta = (None if t is None else seqs.to_seq(t) for t in (lse, delta))
    beta = float(beta)
    bias = seqs.bias(q) - beta
    grad_q, grad_k, grad_v = (torch.empty_like(x) for x in (q, k, vs))
    grad_beta = q.new_zeros((), dtype=torch.float64)
    for sl in seqs.chunks(q.shape[0]):
        weight = torch.baddbmm(bias, q[sl], k[sl].transpose(1, 2), alpha=beta)
        if lse is not None:
            weight.sub_(lse[sl])
        weight.exp_()
        torch.bmm(weight.transpose(1, 2), g[sl], out=grad_v[sl])
        grad_logit = torch.bmm(g[sl], vs[sl].transpose(1, 2))
        if delta is not None:
            grad_logit.sub_(delta[sl])
        grad_logit.mul_(weight)
        # sum_ij dL_ij (cos_ij - 1) = sum_i q_i . (dL k)_i - sum_ij dL_ij
        grad_cos_k = torch.bmm(grad_logit, k[sl])
        grad_beta += (q[sl] * grad_cos_k).sum().double()
        grad_beta -= grad_logit.sum().double()
        torch.mul(grad_cos_k, beta, out=grad_q[sl])
        torch.bmm(grad_logit.transpose(1, 2), q[sl], out=grad_k[sl])
    grad_k.mul_(beta)
    del q, k, vs, g, grad_logit, weight  # before the copies back
    return (seqs.from_seq(grad_q), seqs.from_seq(grad_k),
            seqs.from_seq(grad_v), grad_beta)


def _combine(parts: Sequence[_Partial], normalize: str,
             num_neighbours: int) -> Tuple[Tensor, Optional[Tensor]]:
    """The output from the axes' partial sums, and for softmax the
    log-sum-exp of every node's logits."""
    if normalize != 'softmax':
        out = functools.reduce(torch.add, [p.acc for p in parts])
        return (out / num_neighbours if normalize == 'mean' else out), None
    m = functools.reduce(torch.maximum, [p.m for p in parts])
    scales = [(p.m - m).exp() for p in parts]
    total = functools.reduce(torch.add,
                             [p.s * c for p, c in zip(parts, scales)])
    out = functools.reduce(torch.add,
                           [p.acc * c for p, c in zip(parts, scales)])
    return out / total, m + total.log()


def torch_forward(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor,
                  shifts: SVGAShifts,
                  normalize: str) -> Tuple[Tensor, Optional[Tensor]]:
    """Aggregate in PyTorch; returns ``out`` and, for softmax, the
    log-sum-exp of every node's logits (both ``(B, h, ., H, W)``)."""
    softmax = normalize == 'softmax'
    parts = []
    for dim, offsets in shift_axes(shifts):
        axis_forward = (
            _dense_forward
            if _use_dense(qn.shape[dim], offsets) else _shift_forward)
        parts.append(axis_forward(qn, kn, v, beta, dim, offsets, softmax))
    return _combine(parts, normalize, shifts.num_neighbours)


def torch_backward(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor,
                   out: Optional[Tensor], lse: Optional[Tensor], grad: Tensor,
                   shifts: SVGAShifts,
                   normalize: str) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gradients w.r.t. ``qn, kn, v, beta``, recomputing each axis."""
    if normalize == 'mean':
        grad = grad / shifts.num_neighbours
    # d(sum_j w_ij v_j . g_i) / d logit_ij = w_ij * (g_i . v_j - delta_i)
    delta = _dot(grad, out) if normalize == 'softmax' else None
    grads = None
    for dim, offsets in shift_axes(shifts):
        axis_backward = (
            _dense_backward
            if _use_dense(qn.shape[dim], offsets) else _shift_backward)
        part = axis_backward(qn, kn, v, beta, dim, offsets, grad, lse, delta)
        grads = part if grads is None else [a + b for a, b in zip(grads, part)]
    return grads


class TritonFallback:
    """Whether this process has given up the Triton kernels under
    ``impl='auto'``: after their first failure (one warning, naming the
    cause) every later call runs the PyTorch path, which computes the same.
    The one instance is :data:`TRITON_FALLBACK`."""

    def __init__(self) -> None:
        self.cause: Optional[str] = None

    @property
    def active(self) -> bool:
        """Whether ``impl='auto'`` now runs the PyTorch path."""
        return self.cause is not None

    def record(self, cause: str) -> None:
        """The kernels failed with ``cause``: fall back from now on."""
        self.cause = cause

    def reset(self) -> None:
        """Try the Triton kernels again at the next ``impl='auto'`` call
        (after fixing their cause in a running process, e.g. a notebook);
        a new failure warns again."""
        self.cause = None


TRITON_FALLBACK = TritonFallback()
_FALLBACK_HINT = ("the PyTorch path computes the same: set impl='torch' in "
                  "the backbone's aggregator (aggregator=dict("
                  "type='CrossAttention', impl='torch')) to choose it")


def _run(backend: str, step: str, *args):
    """``step`` (``'forward'`` or ``'backward'``) on ``backend``:
    ``'torch'``, ``'triton'``, or ``'auto'`` (Triton; on a Triton failure,
    one warning and the PyTorch path for the rest of the process)."""
    if backend == 'auto' and TRITON_FALLBACK.active:
        backend = 'torch'
    if backend == 'torch':
        return (torch_forward if step == 'forward' else torch_backward)(*args)
    try:
        try:
            from . import svga_attention_triton as kernels
        except Exception as error:  # triton missing or broken
            raise KernelError(f'import triton: {type(error).__name__}: '
                              f'{error}') from error
        return getattr(kernels, step)(*args)
    except KernelError as error:
        if backend == 'triton':
            raise KernelError(f'The Triton SVGA kernels failed ({error}); '
                              f'{_FALLBACK_HINT}.') from error
        TRITON_FALLBACK.record(str(error))
        warnings.warn(
            f'mmvig: the Triton SVGA kernels failed ({error}); '
            'this process now runs the SVGA aggregation on its '
            f'PyTorch path. {_FALLBACK_HINT[0].upper()}'
            f'{_FALLBACK_HINT[1:]} and silence this warning.',
            KernelFallbackWarning,
            stacklevel=2)
        return _run('torch', step, *args)


def _lse_shape(qn: Tensor, normalize: str) -> Tuple[int, ...]:
    return qn.shape[:2] + (1, ) + qn.shape[3:] if normalize == 'softmax' \
        else (0, )


# The operator is a pair of opaque custom ops (forward, backward) tied by
# ``register_autograd``: torch.compile keeps them in its graph without
# tracing the loops inside, and autograd saves only what ``_setup_context``
# names.
@torch.library.custom_op('mmvig::svga_attention', mutates_args=())
def _svga_attention(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor,
                    rows: List[int], cols: List[int], normalize: str,
                    backend: str) -> Tuple[Tensor, Tensor]:
    with torch.autocast(qn.device.type, enabled=False):
        out, lse = _run(backend, 'forward', qn, kn, v, beta,
                        SVGAShifts(tuple(rows), tuple(cols)), normalize)
    return (out.contiguous(),
            qn.new_empty(0) if lse is None else lse.contiguous())


# Fake implementations give torch.compile shapes; every output is contiguous.
@_svga_attention.register_fake
def _(qn, kn, v, beta, rows, cols, normalize, backend):
    return v.new_empty(v.shape), qn.new_empty(_lse_shape(qn, normalize))


@torch.library.custom_op('mmvig::svga_attention_backward', mutates_args=())
def _svga_attention_backward(
        qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor, out: Optional[Tensor],
        lse: Tensor, grad: Tensor, rows: List[int], cols: List[int],
        normalize: str, backend: str) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    with torch.autocast(qn.device.type, enabled=False):
        grads = _run(backend, 'backward', qn, kn, v, beta, out,
                     lse if normalize == 'softmax' else None,
                     grad.to(qn.dtype).contiguous(),
                     SVGAShifts(tuple(rows), tuple(cols)), normalize)
    return tuple(g.contiguous()
                 for g in grads[:3]) + (grads[3].to(beta.dtype), )


@_svga_attention_backward.register_fake
def _(qn, kn, v, beta, out, lse, grad, rows, cols, normalize, backend):
    return tuple(t.new_empty(t.shape) for t in (qn, kn, v, beta))


def _setup_context(ctx, inputs, output) -> None:
    qn, kn, v, beta, rows, cols, normalize, backend = inputs
    out, lse = output
    ctx.args = (rows, cols, normalize, backend)
    ctx.save_for_backward(qn, kn, v, beta,
                          out if normalize == 'softmax' else None, lse)


def _backward(ctx, grad_out: Tensor, grad_lse: Tensor):
    qn, kn, v, beta, out, lse = ctx.saved_tensors
    grads = _svga_attention_backward(qn, kn, v, beta, out, lse, grad_out,
                                     *ctx.args)
    return grads + (None, ) * 4


_svga_attention.register_autograd(_backward, setup_context=_setup_context)


def fused_cross_attention(qn: Tensor,
                          kn: Tensor,
                          v: Tensor,
                          beta: Tensor,
                          shifts: SVGAShifts,
                          normalize: str,
                          backend: str = 'torch') -> Tensor:
    """The operator on unit-norm ``(B, h, d, H, W)`` queries and keys, values
    and a scalar ``beta``, all in one float dtype; ``backend`` is ``'torch'``,
    ``'triton'`` or ``'auto'`` (Triton, falling back to PyTorch)."""
    return _svga_attention(qn, kn, v, beta, list(shifts.rows),
                           list(shifts.cols), normalize, backend)[0]


def _unit(x: Tensor) -> Tensor:
    """``x / max(|x|, COSINE_EPS)`` over dim 2 (``F.normalize``'s result;
    several times faster on CPU for the few strided channels of a head)."""
    return x * x.square().sum(2, keepdim=True).clamp_min(COSINE_EPS**2).rsqrt()


def compute_dtype(x: Tensor) -> torch.dtype:
    """float32 for half inputs, else the input's own (float64 stays)."""
    return torch.promote_types(x.dtype, torch.float32)


def beta_from_log(log_beta: Tensor) -> Tensor:
    """``beta = exp(log_beta)`` in at least float32, log clamped to
    ``LOG_BETA_RANGE``."""
    return log_beta.to(compute_dtype(log_beta)).clamp(*LOG_BETA_RANGE).exp()


def _heads(x: Tensor, num_heads: int, dtype: torch.dtype) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, heads, C / heads, H, W)`` in ``dtype``."""
    batch, channels, height, width = x.shape
    if channels % num_heads:
        raise InputError(f'{channels} channels cannot be split into '
                         f'{num_heads} heads')
    return x.to(dtype).reshape(batch, num_heads, channels // num_heads, height,
                               width)


def _split_heads(q: Tensor, k: Tensor, v: Tensor, log_beta: Tensor,
                 num_heads: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(B, C, H, W)`` -> unit-norm ``qn``, ``kn`` and ``v`` as
    ``(B, heads, C / heads, H, W)`` in the compute dtype, and ``beta``: the
    part of the equations every implementation shares."""
    dtype = compute_dtype(v)
    qn, kn, vh = (_heads(x, num_heads, dtype) for x in (q, k, v))
    return _unit(qn), _unit(kn), vh, beta_from_log(log_beta).to(dtype)


def triton_available(x: Tensor) -> bool:
    """Whether the Triton kernels can run on ``x``: a CUDA tensor, or any
    tensor when ``TRITON_INTERPRET=1`` runs kernels on the CPU."""
    if not (x.is_cuda or os.environ.get('TRITON_INTERPRET') == '1'):
        return False
    return importlib.util.find_spec('triton') is not None


def uses_standard_ops(impl: str) -> bool:
    """Whether ``impl`` runs as :func:`standard_cross_attention`: when asked
    for, and under any ONNX export (what ONNX expresses), ``'reference'``
    aside."""
    return impl == 'standard' or (impl != 'reference'
                                  and torch.onnx.is_in_onnx_export())


def svga_cross_attention(q: Tensor,
                         k: Tensor,
                         v: Tensor,
                         log_beta: Tensor,
                         shifts: SVGAShifts,
                         num_heads: int,
                         normalize: str = 'none',
                         impl: str = 'auto') -> Tensor:
    """Aggregate values over SVGA neighbours with cosine cross-attention.

    Args:
        q: Queries, shape ``(B, C, H, W)``.
        k: Keys, shape ``(B, C, H, W)``.
        v: Values, shape ``(B, C, H, W)``.
        log_beta: Scalar tensor, the log of the kernel temperature ``beta``.
        shifts: SVGA neighbours of the ``H x W`` grid.
        num_heads: Heads; ``C`` must be divisible by it.
        normalize: ``'none'`` (paper), ``'mean'`` or ``'softmax'``.
        impl: ``'auto'`` (the Triton kernels on CUDA tensors up to float32,
            falling back to PyTorch with a warning if they fail; PyTorch
            elsewhere), ``'triton'`` (a failure raises), ``'torch'``,
            ``'standard'`` (standard operators only, as an ONNX export
            writes them; every implementation but ``'reference'`` becomes
            this one inside ``torch.onnx.export``) or ``'reference'`` (plain
            autograd over shifted tensors; memory grows with the
            neighbours).

    Returns:
        Tensor: the aggregated messages ``m``, shape ``(B, C, H, W)``, in the
        dtype of ``v``.
    """
    check_normalize(normalize)
    check_impl(impl)
    if uses_standard_ops(impl) or impl == 'reference':
        fn = standard_cross_attention if uses_standard_ops(impl) else \
            reference_cross_attention
        return fn(q, k, v, log_beta, shifts, num_heads, normalize)
    if impl == 'auto':  # the kernels compute in float32
        impl = 'auto' if q.is_cuda and compute_dtype(v) == torch.float32 \
            and triton_available(q) else 'torch'
    elif impl == 'triton' and not triton_available(q):
        raise InputError("impl='triton' needs CUDA tensors and the triton "
                         'package (or TRITON_INTERPRET=1 on the CPU); '
                         "impl='torch' runs anywhere")
    qn, kn, vh, beta = _split_heads(q, k, v, log_beta, num_heads)
    if shifts.num_neighbours == 0:
        return torch.zeros_like(v)
    out = fused_cross_attention(qn, kn, vh, beta, shifts, normalize, impl)
    return out.reshape(v.shape).to(v.dtype)


def residue_major(x: Tensor, groups: int) -> Tensor:
    """``(B, C, H, W)`` with each row's nodes reordered by residue class mod
    ``groups``: column ``r * W / groups + t`` holds node ``t * groups + r``
    (identity for ``groups=1``). Written as strided slices and a concat,
    which onnxruntime runs about eight times faster than the equivalent
    transpose of the two innermost axes."""
    if groups == 1:
        return x
    return torch.cat([x[..., r::groups] for r in range(groups)], -1)


def natural_order(x: Tensor, groups: int) -> Tensor:
    """The inverse of :func:`residue_major`: the classes interleaved."""
    if groups == 1:
        return x
    return torch.stack(x.chunk(groups, -1), -1).flatten(-2)


# The standard path reads every axis's residue classes through transposes
# that move one (merged) axis: onnxruntime copies those at memory speed,
# where a permutation that moves several axes (the 6-D ones of
# _AxisSequences) runs element by element, about ten times slower. Rows
# need their classes contiguous (residue_major); columns are read in the
# natural order. The sequences form one 3-D batch, on which onnxruntime ran
# one axis's MatMuls and Add faster than on a 5-D or 6-D batch.


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
                     seq_len: int, softmax: bool) -> _Partial:
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
        return _Partial(torch.matmul(v, weight.transpose(-1, -2)), None, None)
    m = logit.amax(-1, keepdim=True)
    weight = (logit - m).exp()
    return _Partial(
        torch.matmul(v, weight.transpose(-1, -2)), m.transpose(-1, -2),
        weight.sum(-1, keepdim=True).transpose(-1, -2))


def _standard_axis(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor, dim: int,
                   offsets: Sequence[int], softmax: bool) -> _Partial:
    """One axis in standard differentiable operators: attention within the
    residue classes where the stride divides the axis (rows stored
    residue-major), the shifted copies elsewhere."""
    groups = residue_classes(qn.shape[dim], offsets)
    if groups > 1:
        classes = _row_classes if dim == 4 else _column_classes
        seq_len = len(offsets) + 1  # a node and its neighbours on the axis
        part = _class_attention(*(classes(x, groups) for x in (qn, kn, v)),
                                beta, seq_len, softmax)
        return _Partial(
            *(None if t is None else _from_classes(t, dim, groups, qn.shape)
              for t in part))
    axis = SVGAShifts(tuple(offsets), ()) if dim == 3 else SVGAShifts(
        (), tuple(offsets))
    views = list(shifted_views((kn, v), axis))
    logits = [(_dot(qn, k_s) - 1) * beta for k_s, _ in views]
    m = functools.reduce(torch.maximum, logits) if softmax else None
    weights = [(logit - m).exp() if softmax else logit.exp()
               for logit in logits]
    acc = functools.reduce(torch.add,
                           [w * v_s for w, (_, v_s) in zip(weights, views)])
    return _Partial(acc, m,
                    functools.reduce(torch.add, weights) if softmax else None)


def standard_cross_attention(q: Tensor,
                             k: Tensor,
                             v: Tensor,
                             log_beta: Tensor,
                             shifts: SVGAShifts,
                             num_heads: int,
                             normalize: str = 'none',
                             rows_residue_major: bool = False) -> Tensor:
    """The operator in standard PyTorch operators only, as an ONNX export
    writes it: each axis whose stride divides it as ``MatMul`` / ``Exp`` /
    ``MatMul`` over its residue classes, the other axes as their shifted
    copies. Same arguments as :func:`svga_cross_attention`, and:

    Args:
        rows_residue_major: ``q``, ``k``, ``v`` and the returned messages
            hold each row's nodes in :func:`residue_major` order for the
            rows' residue classes (:func:`row_residue_classes`), as a model
            whose projections are pointwise can keep them; otherwise they
            are reordered here.
    """
    qn, kn, vh, beta = _split_heads(q, k, v, log_beta, num_heads)
    if shifts.num_neighbours == 0:
        return torch.zeros_like(v)
    groups = row_residue_classes(shifts, v.shape[-1])
    reorder = 1 if rows_residue_major else groups
    qn, kn, vh = (
        residue_major(x.flatten(1, 2), reorder).view_as(x)
        for x in (qn, kn, vh))
    parts = [
        _standard_axis(qn, kn, vh, beta, dim, offsets, normalize == 'softmax')
        for dim, offsets in shift_axes(shifts)
    ]
    out, _ = _combine(parts, normalize, shifts.num_neighbours)
    return natural_order(out.reshape(v.shape), reorder).to(v.dtype)


def row_residue_classes(shifts: SVGAShifts, width: int) -> int:
    """The residue classes of the rows of a ``width``-wide map (1 where the
    stride does not divide it)."""
    return residue_classes(width, shifts.cols)


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
        _heads(x.reshape(batch, channels, -1, 1), num_heads, compute_dtype(v))
        for x in (q, k, v))
    qn, kn = _unit(qn), _unit(kn)
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
    logits = (_dot(qn, gathered[0]) - 1) * beta  # (B, h, 1, N, n)
    weights = logits.softmax(-1) if normalize == 'softmax' else logits.exp()
    if normalize == 'mean':
        weights = weights / index.shape[-1]
    out = (weights * gathered[1]).sum(-1)
    return out.reshape(q.shape).to(v.dtype)


def reference_cross_attention(q: Tensor,
                              k: Tensor,
                              v: Tensor,
                              log_beta: Tensor,
                              shifts: SVGAShifts,
                              num_heads: int,
                              normalize: str = 'none') -> Tensor:
    """The same computation with plain autograd over shifted tensors.

    Autograd keeps every shifted key and value, so memory grows with the number
    of neighbours; it is kept as the reference the fused operator is measured
    against in the benchmarks.
    """
    qn, kn, vh, beta = _split_heads(q, k, v, log_beta, num_heads)
    logits = [(_dot(qn, kn_s) - 1) * beta
              for kn_s, in shifted_views((kn, ), shifts)]
    if normalize == 'softmax':
        lse = torch.cat(logits, 2).logsumexp(2, keepdim=True)
        logits = [logit - lse for logit in logits]
    out = torch.zeros_like(vh)
    for logit, (v_s, ) in zip(logits, shifted_views((vh, ), shifts)):
        out = out + logit.exp() * v_s
    if normalize == 'mean':
        out = out / len(logits)
    return out.reshape(v.shape).to(v.dtype)
