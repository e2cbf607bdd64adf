"""The equations every implementation of the SVGA cross-attention shares.

The vocabulary (normalisations, implementations), the argument checks, the
head split with unit-norm queries and keys, the clamped temperature
``beta = exp(log_beta)``, the compute dtype, and how the axes' partial sums
combine into the output.
"""
import functools
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ...errors import InputError

NORMALIZATIONS = ('none', 'mean', 'softmax')
# beta = exp(log_beta) is clamped to [exp(-10), exp(10)] = [4.5e-5, 2.2e4]:
# finite in every dtype, and far outside the 5-30 the paper reports.
LOG_BETA_RANGE = (-10.0, 10.0)
COSINE_EPS = 1e-6
# ``impl``: which implementation computes the operator. One vocabulary from
# a model's config down to the custom op; the fused operator runs the first
# three.
IMPLEMENTATIONS = {
    'auto':
    'the Triton kernels on CUDA tensors up to float32, falling back '
    'to PyTorch with a warning if they fail; PyTorch elsewhere',
    'triton':
    'the Triton kernels; a failure raises',
    'torch':
    'the PyTorch path, on any device',
    'standard':
    'standard operators only, as an ONNX export writes them '
    '(every implementation but reference becomes this one inside '
    'torch.onnx.export)',
    'reference':
    'plain autograd over shifted tensors (memory grows with '
    'the neighbours)',
}
FUSED_IMPLEMENTATIONS = ('auto', 'triton', 'torch')


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
        raise InputError(f'impl must be one of {tuple(IMPLEMENTATIONS)}, '
                         f'got {impl!r}')


def dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-head dot product over the channel dim:
    ``(B,h,d,H,W) -> (B,h,1,H,W)``."""
    return (a * b).sum(2, keepdim=True)


class Partial(NamedTuple):
    """One axis's share of the aggregation, before normalisation.

    ``acc = sum_j exp(logit_ij - m_i) v_j`` and ``s = sum_j exp(logit_ij -
    m_i)`` with ``m_i`` the node's largest logit on the axis; without softmax
    ``m`` and ``s`` are ``None`` and ``acc`` is ``sum_j exp(logit_ij) v_j``.
    """
    acc: Tensor
    m: Optional[Tensor]
    s: Optional[Tensor]


def combine(parts: Sequence[Partial], normalize: str,
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


def unit_norm(x: Tensor) -> Tensor:
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


def to_heads(x: Tensor, num_heads: int, dtype: torch.dtype) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, heads, C / heads, H, W)`` in ``dtype``."""
    batch, channels, height, width = x.shape
    if channels % num_heads:
        raise InputError(f'{channels} channels cannot be split into '
                         f'{num_heads} heads')
    return x.to(dtype).reshape(batch, num_heads, channels // num_heads, height,
                               width)


def split_heads(q: Tensor, k: Tensor, v: Tensor, log_beta: Tensor,
                num_heads: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(B, C, H, W)`` -> unit-norm ``qn``, ``kn`` and ``v`` as
    ``(B, heads, C / heads, H, W)`` in the compute dtype, and ``beta``: the
    part of the equations every implementation shares."""
    dtype = compute_dtype(v)
    qn, kn, vh = (to_heads(x, num_heads, dtype) for x in (q, k, v))
    return unit_norm(qn), unit_norm(kn), vh, beta_from_log(log_beta).to(dtype)
