"""Cross-attention aggregation over SVGA neighbours (AttentionViG, Eq. 2-7).

For node ``i``, head ``h`` and each SVGA neighbour ``j`` of ``i``::

    s_ij     = cos(q_i, k_j)
    alpha_ij = exp(-beta * (1 - s_ij))
    m_i      = sum_j w_ij * v_j

with ``w = alpha`` (the paper's best variant), ``w = alpha / N`` (``'mean'``)
or ``w = softmax_j(-beta * (1 - s_ij))`` (``'softmax'``).

:func:`svga_cross_attention` is the entry point; ``impl`` chooses the
implementation (:data:`IMPLEMENTATIONS`). One module per job:

* :mod:`.api`: the entry point;
* :mod:`.common`: the equations every implementation shares (head split,
  unit-norm queries and keys, the clamped ``beta``, how the axes combine);
* :mod:`.dispatch`: the fused operator, a ``torch.library`` custom op
  (forward and backward) that ``torch.compile`` keeps whole, on the Triton
  kernels or the PyTorch path, and the Triton fallback
  (:data:`TRITON_FALLBACK`). Its backward pass recomputes the weights from
  ``q``, ``k``, ``v`` and ``beta``, so what it keeps does not depend on the
  number of neighbours;
* :mod:`.triton_kernels`: the Triton kernels (CUDA tensors);
* :mod:`.torch_impl`: the PyTorch path (batched GEMMs over residue classes,
  or one circular shift at a time);
* :mod:`.layout`: the residue-class sequences of an axis, one definition
  for the PyTorch, export and Triton paths (their shift loops all go
  through :class:`~mmvig.ops.svga_graph.CircularAxis`);
* :mod:`.export`: standard operators only, what an ONNX export writes;
* :mod:`.reference`: plain autograd over shifted tensors, the reference for
  tests and benchmarks.

The same aggregation on an arbitrary neighbour index (vanilla ViG's kNN
graph) lives with the model that uses it, the paper's Table 3:
:func:`mmvig.models.vig_cross_attention.gather_cross_attention`.

All arithmetic is in float32 for half inputs (autocast included), float64
for float64 inputs on the PyTorch path.
"""
from .api import resolve_impl, svga_cross_attention
from .common import (FUSED_IMPLEMENTATIONS, IMPLEMENTATIONS, LOG_BETA_RANGE,
                     NORMALIZATIONS, beta_from_log, check_impl,
                     check_normalize, compute_dtype)
from .dispatch import (TRITON_FALLBACK, TritonFallback, fused_cross_attention,
                       triton_available)
from .export import (standard_aggregation, standard_cross_attention,
                     uses_standard_ops)
from .reference import reference_cross_attention

__all__ = [
    'FUSED_IMPLEMENTATIONS', 'IMPLEMENTATIONS', 'LOG_BETA_RANGE',
    'NORMALIZATIONS', 'TRITON_FALLBACK', 'TritonFallback', 'beta_from_log',
    'check_impl', 'check_normalize', 'compute_dtype', 'fused_cross_attention',
    'reference_cross_attention', 'resolve_impl', 'standard_aggregation',
    'standard_cross_attention', 'svga_cross_attention', 'triton_available',
    'uses_standard_ops'
]
