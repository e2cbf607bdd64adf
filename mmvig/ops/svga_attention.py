"""Cross-attention aggregation over SVGA neighbours (AttentionViG, Eq. 2-7).

For node ``i``, head ``h`` and each SVGA neighbour ``j`` of ``i``::

    s_ij     = cos(q_i, k_j)
    alpha_ij = exp(-beta * (1 - s_ij))
    m_i      = sum_j w_ij * v_j

with ``w = alpha`` (the paper's best variant), ``w = alpha / N`` (``'mean'``)
or ``w = softmax_j(-beta * (1 - s_ij))`` (``'softmax'``).

The operator walks the neighbours one circular shift at a time and keeps only
running sums. Its backward pass recomputes each shift from ``q``, ``k``, ``v``
and ``beta`` instead of reading stored per-shift tensors, so the memory it
keeps for the backward pass is independent of the number of neighbours. All
arithmetic is in float32 for half inputs (autocast included), float64 for
float64 inputs.
"""
import math
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.graph import SVGAShifts, shifted_views

NORMALIZATIONS = ('none', 'mean', 'softmax')
# beta = exp(log_beta) is clamped to [exp(-10), exp(10)] = [4.5e-5, 2.2e4]:
# finite in every dtype, and far outside the 5-30 the paper reports.
LOG_BETA_RANGE = (-10.0, 10.0)
COSINE_EPS = 1e-6


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-head dot product over the channel dim: ``(B,h,d,H,W) -> (B,h,1,H,W)``."""
    return (a * b).sum(2, keepdim=True)


class _SVGACrossAttention(torch.autograd.Function):
    """Autograd function over normalised queries/keys; see module docstring."""

    @staticmethod
    def forward(ctx, qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor,
                shifts: SVGAShifts, normalize: str) -> Tensor:
        num = shifts.num_neighbours
        out = torch.zeros_like(v)
        if normalize == 'softmax':
            run_max = torch.full_like(qn[:, :, :1], -math.inf)
            run_sum = torch.zeros_like(run_max)
        for kn_s, v_s in shifted_views((kn, v), shifts):
            logit = _dot(qn, kn_s).sub_(1).mul_(beta)
            if normalize == 'softmax':
                new_max = torch.maximum(run_max, logit)
                rescale = (run_max - new_max).exp_()
                weight = (logit - new_max).exp_()
                run_sum.mul_(rescale).add_(weight)
                out.mul_(rescale).addcmul_(weight, v_s)
                run_max = new_max
            else:
                out.addcmul_(logit.exp_(), v_s)
        lse = None
        if normalize == 'softmax':
            out.div_(run_sum)
            lse = run_max + run_sum.log()
        elif normalize == 'mean':
            out.div_(num)
        ctx.shifts, ctx.normalize = shifts, normalize
        ctx.save_for_backward(qn, kn, v, beta, out if lse is not None else None,
                              lse)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        qn, kn, v, beta, out, lse = ctx.saved_tensors
        shifts, normalize = ctx.shifts, ctx.normalize
        grad_out = grad_out.contiguous()
        if normalize == 'mean':
            grad_out = grad_out / shifts.num_neighbours
        # d(sum_j w_ij v_j . g_i) / d logit_ij = w_ij * (g_i . v_j - delta_i)
        delta = _dot(grad_out, out) if normalize == 'softmax' else None
        grad_q = torch.zeros_like(qn)
        grad_k = torch.zeros_like(kn)
        grad_v = torch.zeros_like(v)
        grad_beta = torch.zeros((), dtype=torch.float64, device=qn.device)
        for dim, offsets in ((3, shifts.rows), (4, shifts.cols)):
            if not offsets:
                continue
            length = kn.shape[dim]
            kn2, v2 = torch.cat([kn, kn], dim), torch.cat([v, v], dim)
            grad_k2 = torch.zeros_like(kn2)
            grad_v2 = torch.zeros_like(v2)
            for offset in offsets:
                kn_s = kn2.narrow(dim, offset, length)
                v_s = v2.narrow(dim, offset, length)
                cos_m1 = _dot(qn, kn_s).sub_(1)
                logit = cos_m1 * beta
                weight = (logit - lse).exp_() if lse is not None else logit.exp_()
                grad_v2.narrow(dim, offset, length).addcmul_(weight, grad_out)
                grad_w = _dot(grad_out, v_s)
                if delta is not None:
                    grad_w.sub_(delta)
                grad_logit = grad_w.mul_(weight)
                grad_beta += (grad_logit * cos_m1).sum(dtype=torch.float64)
                grad_cos = grad_logit.mul_(beta)
                grad_q.addcmul_(grad_cos, kn_s)
                grad_k2.narrow(dim, offset, length).addcmul_(grad_cos, qn)
            grad_k += grad_k2.narrow(dim, 0, length) + grad_k2.narrow(
                dim, length, length)
            grad_v += grad_v2.narrow(dim, 0, length) + grad_v2.narrow(
                dim, length, length)
        return (grad_q, grad_k, grad_v, grad_beta.to(beta.dtype), None, None)


def compute_dtype(x: Tensor) -> torch.dtype:
    """float32 for half inputs, else the input's own (float64 stays)."""
    return torch.promote_types(x.dtype, torch.float32)


def beta_from_log(log_beta: Tensor) -> Tensor:
    """``beta = exp(log_beta)`` in at least float32, log clamped to
    ``LOG_BETA_RANGE``."""
    return log_beta.to(compute_dtype(log_beta)).clamp(*LOG_BETA_RANGE).exp()


def _split_heads(q: Tensor, k: Tensor, v: Tensor, log_beta: Tensor,
                 num_heads: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(B, C, H, W)`` -> unit-norm ``qn``, ``kn`` and ``v`` as
    ``(B, heads, C / heads, H, W)`` in the compute dtype, and ``beta``."""
    batch, channels, height, width = q.shape
    if channels % num_heads:
        raise ValueError(f'{channels} channels cannot be split into '
                         f'{num_heads} heads')
    heads = (batch, num_heads, channels // num_heads, height, width)
    dtype = compute_dtype(v)
    qn, kn, vh = (x.to(dtype).reshape(heads) for x in (q, k, v))
    return (F.normalize(qn, dim=2, eps=COSINE_EPS),
            F.normalize(kn, dim=2, eps=COSINE_EPS), vh,
            beta_from_log(log_beta).to(dtype))


@torch.compiler.disable
def svga_cross_attention(q: Tensor,
                         k: Tensor,
                         v: Tensor,
                         log_beta: Tensor,
                         shifts: SVGAShifts,
                         num_heads: int,
                         normalize: str = 'none') -> Tensor:
    """Aggregate values over SVGA neighbours with cosine cross-attention.

    Args:
        q: Queries, shape ``(B, C, H, W)``.
        k: Keys, shape ``(B, C, H, W)``.
        v: Values, shape ``(B, C, H, W)``.
        log_beta: Scalar tensor, the log of the kernel temperature ``beta``.
        shifts: SVGA neighbours of the ``H x W`` grid.
        num_heads: Heads; ``C`` must be divisible by it.
        normalize: ``'none'`` (paper), ``'mean'`` or ``'softmax'``.

    Returns:
        Tensor: the aggregated messages ``m``, shape ``(B, C, H, W)``, in the
        dtype of ``v``.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f'normalize must be one of {NORMALIZATIONS}, '
                         f'got {normalize!r}')
    qn, kn, vh, beta = _split_heads(q, k, v, log_beta, num_heads)
    if shifts.num_neighbours == 0:
        return torch.zeros_like(v)
    out = _SVGACrossAttention.apply(qn, kn, vh, beta, shifts, normalize)
    return out.reshape(v.shape).to(v.dtype)


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
