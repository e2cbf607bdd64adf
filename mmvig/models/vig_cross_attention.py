"""Vanilla ViG with cross-attention aggregation: the paper's Table 3.

"AttentionViG: Cross-Attention-Based Dynamic Neighbor Aggregation in Vision
GNNs", Gedik et al., 2025, Table 3 compares aggregation functions inside
vanilla ViG ("Vision GNN: An Image is Worth Graph of Nodes", Han et al.,
NeurIPS 2022): the isotropic ViG-Ti with its dynamic k-nearest-neighbour
graph, recomputed in every Grapher (k growing from 9 to 18, dilation). Its
GIN, Max-Relative, GraphSAGE and EdgeConv rows are mmpretrain's own
:class:`~mmpretrain.models.backbones.Vig` with ``graph_conv_type`` ``'gin'``,
``'mr'``, ``'sage'``, ``'edge'``. :class:`CrossAttentionVig` is that model
with a fifth type, ``'cross_attention'``: the aggregation of AttentionViG
(cosine cross-attention with a learnable temperature, the equations of
:func:`mmvig.ops.svga_cross_attention`, here on the kNN neighbour index:
:func:`gather_cross_attention`)
inside mmpretrain's Grapher, with every other part mmpretrain's.

All graph convolutions take ``(B, C, N, 1)`` node features and a
``(2, B, N, k)`` edge index (neighbours, centres), as mmpretrain's do.
"""
from typing import Optional

import torch
from mmpretrain.models.backbones.vig import BasicConv, Vig
from torch import Tensor

from ..errors import InputError
from ..ops.svga_attention.common import (beta_from_log, check_normalize,
                                         compute_dtype, dot, to_heads,
                                         unit_norm)
from ..registry import MODELS
from ..typing_utils import ConfigType
from .attention_vig import CrossAttentionAggregation


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
        to_heads(
            x.reshape(batch, channels, -1, 1), num_heads, compute_dtype(v))
        for x in (q, k, v))
    qn, kn = unit_norm(qn), unit_norm(kn)
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
    logits = (dot(qn, gathered[0]) - 1) * beta  # (B, h, 1, N, n)
    weights = logits.softmax(-1) if normalize == 'softmax' else logits.exp()
    if normalize == 'mean':
        weights = weights / index.shape[-1]
    out = (weights * gathered[1]).sum(-1)
    return out.reshape(q.shape).to(v.dtype)


class CrossAttentionGraphConv(CrossAttentionAggregation):
    """Cross-attention aggregation on an arbitrary neighbour index.

    AttentionViG's aggregation (same parameters, checks and equations):
    ``q, k, v`` are pointwise projections of the node features split into
    heads; node ``i`` receives ``m_i = sum_j w_ij v_j`` over its neighbours
    ``j`` with ``w_ij = exp(-beta (1 - cos(q_i, k_j)))`` (optionally
    normalised), and returns ``BasicConv([x_i, m_i])``: the grouped 1x1
    conv, norm and activation that mmpretrain's Max-Relative conv applies to
    ``[x_i, max_j (x_j - x_i)]``.

    Args:
        in_channels: Node channels ``C``.
        out_channels: Output channels (ViG's Grapher uses ``2C``).
        act_cfg: Activation config of the output conv.
        norm_cfg: Norm config of the output conv.
        graph_conv_bias: Bias of the output conv.
        num_heads: Attention heads (default 8, as in AttentionViG).
        head_dim: Channels per head instead of ``num_heads``.
        normalize: ``'none'`` (AttentionViG's), ``'mean'`` or ``'softmax'``
            over the neighbours.
        init_beta: Initial ``beta``; the learnable parameter is ``log_beta``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 act_cfg: ConfigType,
                 norm_cfg: Optional[ConfigType] = None,
                 graph_conv_bias: bool = True,
                 num_heads: Optional[int] = None,
                 head_dim: Optional[int] = None,
                 normalize: str = 'none',
                 init_beta: float = 10.0) -> None:
        super().__init__(
            in_channels,
            num_heads,
            head_dim,
            normalize,
            init_beta,
            out=BasicConv([in_channels * 2, out_channels], act_cfg, norm_cfg,
                          graph_conv_bias))

    def forward(self,
                x: Tensor,
                edge_index: Tensor,
                y: Optional[Tensor] = None) -> Tensor:
        """Aggregate.

        Args:
            x: Node features, ``(B, C, N, 1)``.
            edge_index: ``(2, B, N, k)``: neighbours (into ``y`` when given),
                then centres.
            y: Optional reduced nodes ``(B, C, M, 1)`` the neighbours index.

        Returns:
            Tensor: ``(B, out_channels, N, 1)``.
        """
        q, k, v = self.qkv(x).chunk(3, dim=1)
        if y is not None:
            _, k, v = self.qkv(y).chunk(3, dim=1)
        m = gather_cross_attention(q, k, v, self.log_beta, edge_index[0],
                                   self.num_heads, self.normalize)
        b, c, n, _ = x.shape
        # interleaved as mmpretrain's Max-Relative conv does, so that every
        # group of the grouped conv sees node and message channels
        return self.out(torch.stack([x, m], dim=2).reshape(b, 2 * c, n, 1))


@MODELS.register_module()
class CrossAttentionVig(Vig):
    """mmpretrain's vanilla ViG with ``graph_conv_type='cross_attention'``.

    Every part is mmpretrain's :class:`~mmpretrain.models.backbones.Vig`
    (stem, positional embedding, dilated kNN graph, Grapher with its fc
    layers, FFN); with ``'cross_attention'`` the graph conv of every Grapher
    is a :class:`CrossAttentionGraphConv`. The other four types build
    mmpretrain's model unchanged.

    =====  ======  ========  ==========================================
    arch   blocks  channels  backbone params, cross-attention / Max-Rel.
    =====  ======  ========  ==========================================
    tiny   12      192       7.29 M / 5.96 M
    small  16      320       26.32 M / 21.39 M
    base   16      640       104.85 M / 85.16 M
    =====  ======  ========  ==========================================

    Args:
        arch: ``'tiny'``, ``'small'`` or ``'base'`` (mmpretrain's).
        graph_conv_type: ``'cross_attention'``, or mmpretrain's ``'mr'``,
            ``'edge'``, ``'sage'``, ``'gin'``.
        aggregator: Arguments of :class:`CrossAttentionGraphConv`
            (``num_heads`` / ``head_dim``, ``normalize``, ``init_beta``).
        **kwargs: mmpretrain's ``Vig`` arguments (``k``, ``drop_path``,
            ``use_dilation``, ``relative_pos``, ``norm_cfg``, ...).
    """

    graph_conv_types = ('cross_attention', 'mr', 'edge', 'sage', 'gin')

    def __init__(self,
                 arch: str = 'tiny',
                 graph_conv_type: str = 'cross_attention',
                 aggregator: Optional[dict] = None,
                 **kwargs) -> None:
        if graph_conv_type not in self.graph_conv_types:
            raise InputError(f'graph_conv_type must be one of '
                             f'{self.graph_conv_types}, got '
                             f'{graph_conv_type!r}')
        if arch not in self.arch_settings:
            raise InputError(f'Unknown ViG arch {arch!r}; choose one of '
                             f'{sorted(self.arch_settings)}')
        if aggregator and graph_conv_type != 'cross_attention':
            raise InputError("aggregator settings apply to graph_conv_type="
                             f"'cross_attention' only, got {aggregator}")
        attention = graph_conv_type == 'cross_attention'
        super().__init__(
            arch,
            graph_conv_type='mr' if attention else graph_conv_type,
            **kwargs)
        self.graph_conv_type = graph_conv_type
        if not attention:
            return
        channels = self.arch_settings[arch]['channels']
        defaults = dict(
            act_cfg=dict(type='GELU'),
            norm_cfg=dict(type='BN'),
            graph_conv_bias=True)
        conv = {key: kwargs.get(key, value) for key, value in defaults.items()}
        for block in self.blocks:
            block[0].graph_conv.gconv = CrossAttentionGraphConv(
                channels, 2 * channels, **conv, **(aggregator or {}))
