"""The PyTorch implementation of the SVGA cross-attention (CPU tensors, and
CUDA tensors under ``impl='torch'``).

Every SVGA neighbour of a node lies on the node's row or column, so each axis
is attention along rows (columns) under a circulant mask: axes with many
neighbours run as batched GEMMs over chunks of the sequences of
:mod:`.layout` (:class:`_AxisSequences`), the others one circular shift at a
time with running sums. Softmax combines the two axes' partial sums online. The
backward pass recomputes the weights from ``q``, ``k``, ``v`` and ``beta``.
"""
import math
from typing import Iterator, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..svga_graph import (CircularAxis, SVGAShifts, axis_shifted_views,
                          shift_axes)
from .common import Partial, combine, dot
from .layout import axis_classes, from_sequences, to_sequences

# The PyTorch path aggregates an axis with batched GEMMs from this many
# neighbours per axis on (see ``_use_dense``), and bounds each GEMM batch's
# logits to this many values (2 MB in float32: the logits of a chunk stay in
# the CPU's cache between the GEMMs and the exp).
DENSE_MIN_NEIGHBOURS = 8
DENSE_CHUNK_ELEMENTS = 1 << 19

# --- one circular shift at a time ---------------------------------------


def _shift_forward(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor, dim: int,
                   offsets: Sequence[int], softmax: bool) -> Partial:
    acc = torch.zeros_like(v)
    run_max = run_sum = None
    if softmax:
        run_max = torch.full_like(qn[:, :, :1], -math.inf)
        run_sum = torch.zeros_like(run_max)
    for kn_s, v_s in axis_shifted_views((kn, v), dim, offsets):
        logit = dot(qn, kn_s).sub_(1).mul_(beta)
        if softmax:
            new_max = torch.maximum(run_max, logit)
            rescale = (run_max - new_max).exp_()
            weight = (logit - new_max).exp_()
            run_sum.mul_(rescale).add_(weight)
            acc.mul_(rescale).addcmul_(weight, v_s)
            run_max = new_max
        else:
            acc.addcmul_(logit.exp_(), v_s)
    return Partial(acc, run_max, run_sum)


def _shift_backward(
        qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor, dim: int,
        offsets: Sequence[int], grad: Tensor, lse: Optional[Tensor],
        delta: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    axis = CircularAxis(dim, kn.shape[dim])
    kn2, v2 = axis.doubled(kn), axis.doubled(v)
    grad_q = torch.zeros_like(qn)
    grad_k2 = torch.zeros_like(kn2)
    grad_v2 = torch.zeros_like(v2)
    grad_beta = qn.new_zeros((), dtype=torch.float64)
    for offset in offsets:
        kn_s = axis.shifted(kn2, offset)
        cos_m1 = dot(qn, kn_s).sub_(1)
        logit = cos_m1 * beta
        weight = (logit - lse).exp_() if lse is not None else logit.exp_()
        axis.shifted(grad_v2, offset).addcmul_(weight, grad)
        grad_w = dot(grad, axis.shifted(v2, offset))
        if delta is not None:
            grad_w.sub_(delta)
        grad_logit = grad_w.mul_(weight)
        grad_beta += (grad_logit * cos_m1).sum(dtype=torch.float64)
        grad_cos = grad_logit.mul_(beta)
        grad_q.addcmul_(grad_cos, kn_s)
        axis.shifted(grad_k2, offset).addcmul_(grad_cos, qn)
    return grad_q, axis.folded(grad_k2), axis.folded(grad_v2), grad_beta


# --- all neighbours of an axis at once (batched GEMMs) ------------------


class _AxisSequences:
    """The neighbour sets of one axis as masked attention over the
    sequences of :mod:`.layout`: residue classes where the stride divides
    the axis (no masked-out work but the diagonal), whole lines under the
    circulant mask elsewhere. ``(B, h, d, H, W)`` tensors become
    ``(N, L, d)`` batches of sequences."""

    def __init__(self, shape: torch.Size, dim: int, offsets: Sequence[int]):
        self.axis = axis_classes(shape, dim, offsets)
        self.shape = shape
        idx = torch.arange(self.axis.seq_len)
        if self.axis.classes > 1:
            self.mask = idx[:, None] != idx[None, :]
        else:
            rel = (idx[None, :] - idx[:, None]) % shape[dim]
            self.mask = torch.isin(rel, torch.tensor(list(offsets)))

    def bias(self, like: Tensor) -> Tensor:
        """``(L, L)``: 0 on edges, -inf elsewhere."""
        bias = torch.zeros(self.mask.shape, dtype=like.dtype)
        return bias.masked_fill_(~self.mask, -math.inf).to(like.device)

    def to_seq(self, x: Tensor) -> Tensor:
        """``(B, h, d, H, W) -> (N, L, d)``, one copy."""
        return to_sequences(x, self.axis)

    def from_seq(self, x: Tensor) -> Tensor:
        """``(N, L, d) -> (B, h, d, H, W)`` contiguous, one copy."""
        return from_sequences(x, self.axis, self.shape)

    def chunks(self, num: int) -> Iterator[slice]:
        """Slices of the ``N`` sequences whose ``(L, L)`` logits together
        hold at most ``DENSE_CHUNK_ELEMENTS`` values."""
        step = max(1, DENSE_CHUNK_ELEMENTS // self.axis.seq_len**2)
        for start in range(0, num, step):
            yield slice(start, start + step)


def _use_dense(shape: torch.Size, dim: int, offsets: Sequence[int]) -> bool:
    """Batched GEMMs pay off when an axis has many neighbours and the masked
    sequences waste at most 4x the work of the neighbours themselves."""
    if len(offsets) < DENSE_MIN_NEIGHBOURS:
        return False
    return axis_classes(shape, dim, offsets).seq_len <= 4 * len(offsets)


def _dense_forward(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor, dim: int,
                   offsets: Sequence[int], softmax: bool) -> Partial:
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
    return Partial(
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
            if _use_dense(qn.shape, dim, offsets) else _shift_forward)
        parts.append(axis_forward(qn, kn, v, beta, dim, offsets, softmax))
    return combine(parts, normalize, shifts.num_neighbours)


def torch_backward(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor,
                   out: Optional[Tensor], lse: Optional[Tensor], grad: Tensor,
                   shifts: SVGAShifts,
                   normalize: str) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gradients w.r.t. ``qn, kn, v, beta``, recomputing each axis."""
    if normalize == 'mean':
        grad = grad / shifts.num_neighbours
    # d(sum_j w_ij v_j . g_i) / d logit_ij = w_ij * (g_i . v_j - delta_i)
    delta = dot(grad, out) if normalize == 'softmax' else None
    grads = None
    for dim, offsets in shift_axes(shifts):
        axis_backward = (
            _dense_backward
            if _use_dense(qn.shape, dim, offsets) else _shift_backward)
        part = axis_backward(qn, kn, v, beta, dim, offsets, grad, lse, delta)
        grads = part if grads is None else [a + b for a, b in zip(grads, part)]
    return grads
