"""The fused SVGA cross-attention as a ``torch.library`` custom operator
(forward and backward), on the Triton kernels or the PyTorch path.

``torch.compile`` keeps the custom ops whole. If the Triton kernels fail to
compile or launch under ``impl='auto'``, the operator warns once, naming the
cause, and runs on the PyTorch path for the rest of the process
(:data:`TRITON_FALLBACK`).
"""
import importlib.util
import os
import warnings
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from ...errors import InputError, KernelError, KernelFallbackWarning
from ..svga_graph import SVGAShifts
from .common import FUSED_IMPLEMENTATIONS
from .torch_impl import torch_backward, torch_forward


def triton_available(x: Tensor) -> bool:
    """Whether the Triton kernels can run on ``x``: a CUDA tensor, or any
    tensor when ``TRITON_INTERPRET=1`` runs kernels on the CPU."""
    if not (x.is_cuda or os.environ.get('TRITON_INTERPRET') == '1'):
        return False
    return importlib.util.find_spec('triton') is not None


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


def _run(impl: str, step: str, *args):
    """``step`` (``'forward'`` or ``'backward'``) on one of
    :data:`FUSED_IMPLEMENTATIONS` (``'auto'``: Triton; on a Triton failure,
    one warning and the PyTorch path for the rest of the process)."""
    if impl == 'auto' and TRITON_FALLBACK.active:
        impl = 'torch'
    if impl == 'torch':
        return (torch_forward if step == 'forward' else torch_backward)(*args)
    try:
        try:
            from . import triton_kernels as kernels
        except Exception as error:  # triton missing or broken
            raise KernelError(f'import triton: {type(error).__name__}: '
                              f'{error}') from error
        return getattr(kernels, step)(*args)
    except KernelError as error:
        if impl == 'triton':
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
                    impl: str) -> Tuple[Tensor, Tensor]:
    with torch.autocast(qn.device.type, enabled=False):
        out, lse = _run(impl, 'forward', qn, kn, v, beta,
                        SVGAShifts(tuple(rows), tuple(cols)), normalize)
    return (out.contiguous(),
            qn.new_empty(0) if lse is None else lse.contiguous())


# Fake implementations give torch.compile shapes; every output is contiguous.
@_svga_attention.register_fake
def _(qn, kn, v, beta, rows, cols, normalize, impl):
    return v.new_empty(v.shape), qn.new_empty(_lse_shape(qn, normalize))


@torch.library.custom_op('mmvig::svga_attention_backward', mutates_args=())
def _svga_attention_backward(
        qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor, out: Optional[Tensor],
        lse: Tensor, grad: Tensor, rows: List[int], cols: List[int],
        normalize: str, impl: str) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    with torch.autocast(qn.device.type, enabled=False):
        grads = _run(impl, 'backward', qn, kn, v, beta, out,
                     lse if normalize == 'softmax' else None,
                     grad.to(qn.dtype).contiguous(),
                     SVGAShifts(tuple(rows), tuple(cols)), normalize)
    return tuple(g.contiguous()
                 for g in grads[:3]) + (grads[3].to(beta.dtype), )


@_svga_attention_backward.register_fake
def _(qn, kn, v, beta, out, lse, grad, rows, cols, normalize, impl):
    return tuple(t.new_empty(t.shape) for t in (qn, kn, v, beta))


def _setup_context(ctx, inputs, output) -> None:
    qn, kn, v, beta, rows, cols, normalize, impl = inputs
    out, lse = output
    ctx.args = (rows, cols, normalize, impl)
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
                          impl: str = 'torch') -> Tensor:
    """The operator on unit-norm ``(B, h, d, H, W)`` queries and keys, values
    and a scalar ``beta``, all in one float dtype; ``impl`` is one of
    :data:`FUSED_IMPLEMENTATIONS` (``'auto'``: Triton, falling back to
    PyTorch)."""
    if impl not in FUSED_IMPLEMENTATIONS:
        raise InputError(f'the fused operator runs impl '
                         f'{FUSED_IMPLEMENTATIONS}, got {impl!r}')
    return _svga_attention(qn, kn, v, beta, list(shifts.rows),
                           list(shifts.cols), normalize, impl)[0]
