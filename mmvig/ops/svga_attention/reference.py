"""The SVGA cross-attention as plain autograd over shifted tensors: the
reference the fused operator is tested and measured against."""
import torch
from torch import Tensor

from ..svga_graph import SVGAShifts, shifted_views
from .common import dot, split_heads


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
    qn, kn, vh, beta = split_heads(q, k, v, log_beta, num_heads)
    logits = [(dot(qn, kn_s) - 1) * beta
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
