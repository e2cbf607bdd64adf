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
:func:`mmvig.ops.svga_cross_attention`, here on the kNN neighbour index)
inside mmpretrain's Grapher, with every other part mmpretrain's.

All graph convolutions take ``(B, C, N, 1)`` node features and a
``(2, B, N, k)`` edge index (neighbours, centres), as mmpretrain's do.
"""
from typing import Optional

import torch
from mmpretrain.models.backbones.vig import BasicConv, Vig
from torch import Tensor

from ..errors import InputError
from ..ops.svga_attention import gather_cross_attention
from ..registry import MODELS
from ..typing_utils import ConfigType
from .attention_vig import CrossAttentionAggregation


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
