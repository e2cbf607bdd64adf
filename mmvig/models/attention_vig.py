"""AttentionViG backbone.

"AttentionViG: Cross-Attention-Based Dynamic Neighbor Aggregation in Vision
GNNs", Gedik et al., 2025.

A four-stage pyramid (strides 4, 8, 16, 32). Each stage is a downsampling conv
(stages 2-4), ``n_i`` inverted residual blocks, then Grapher blocks in which
every node aggregates its SVGA neighbours (see :mod:`mmvig.ops.svga_graph`) by
cosine cross-attention with a learnable temperature ``beta``
(:func:`mmvig.ops.svga_cross_attention`). The classic aggregators the paper
compares against (Max-Relative, EdgeConv, GIN, GraphSAGE) run on the same
neighbour sets, and the lineage's graph convs (MobileViG, GreedyViG,
AdaptViG) on theirs; :class:`LineageViG` is the base of those three
backbones.

All modules take and return ``(B, C, H, W)`` tensors.
"""
import math
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from torch import Tensor, nn

from ..errors import InputError
from ..ops.svga_attention import (LOG_BETA_RANGE, check_impl, check_normalize,
                                  standard_aggregation, svga_cross_attention,
                                  uses_standard_ops)
from ..ops.svga_graph import (SVGAShifts, exponential_offsets, shifted_views,
                              svga_shifts)
from ..registry import MODELS
from ..typing_utils import ConfigType
from .base import (PyramidBackbone, check_bool, check_int, check_norm_cfg,
                   check_number)
from .fold import fold_conv_modules, last_conv, scale_conv
from .layers import (FFN, ConvPositionEncoding, InvertedResidualBranch,
                     LayerScale2d, Residual, Stem, checkpointed, conv1x1,
                     downsample_conv)

DEFAULT_NUM_HEADS = 8


def _head_count(channels: int, num_heads: Optional[int],
                head_dim: Optional[int]) -> int:
    """Heads of a stage with ``channels`` channels, from a head count or a
    head dimension (checked to be positive integers that divide it)."""
    if num_heads is not None and head_dim is not None:
        raise InputError('CrossAttention takes num_heads or head_dim, not '
                         f'both (got num_heads={num_heads}, '
                         f'head_dim={head_dim})')
    if head_dim is not None:
        name, value = 'head_dim', head_dim
    else:
        name, value = 'num_heads', (
            DEFAULT_NUM_HEADS if num_heads is None else num_heads)
    check_int(value, f'CrossAttention {name}', 1)
    if channels % value:
        raise InputError(f'CrossAttention {name}={value} must divide the '
                         f'{channels} channels of every stage')
    return channels // value if name == 'head_dim' else value


class CrossAttentionAggregation(nn.Module):
    """Cross-attention over SVGA neighbours (the paper's Eq. 2-7).

    ``q, k, v`` are pointwise projections split into heads; node ``i``
    receives ``m_i = sum_j w_ij v_j`` with ``w_ij = exp(-beta (1 - cos(q_i,
    k_j)))`` and returns ``act(norm(W [x_i, m_i]))``.

    Args:
        channels: Channels ``C``.
        num_heads: Attention heads; must divide ``C``. Default: 8 (the
            paper's), unless ``head_dim`` is given.
        head_dim: Channels per head instead of a head count: the stage then
            has ``C / head_dim`` heads (the paper's Table 6 fixes the head
            dimension across stages). Give ``num_heads`` or ``head_dim``,
            not both.
        normalize: ``'none'`` (paper's best), ``'mean'`` (divide by the
            neighbour count) or ``'softmax'`` over neighbours.
        init_beta: Initial ``beta``; the learnable parameter is ``log_beta``.
        norm_cfg: Norm layer config.
        act_cfg: Activation config.
        impl: Operator implementation, see
            :func:`mmvig.ops.svga_cross_attention` (``'auto'``: Triton
            kernels on CUDA, PyTorch elsewhere).
        out: The layer applied to ``[x_i, m_i]``, ``(B, 2C, H, W)``;
            default ``act(norm(conv1x1(2C -> C)))`` from ``norm_cfg`` and
            ``act_cfg``.
    """

    def __init__(self,
                 channels: int,
                 num_heads: Optional[int] = None,
                 head_dim: Optional[int] = None,
                 normalize: str = 'none',
                 init_beta: float = 10.0,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='GELU'),
                 impl: str = 'auto',
                 out: Optional[nn.Module] = None) -> None:
        super().__init__()
        num_heads = _head_count(channels, num_heads, head_dim)
        check_normalize(normalize)
        low, high = (math.exp(b) for b in LOG_BETA_RANGE)
        if not low <= init_beta <= high:
            raise InputError(
                f'init_beta must lie in [{low:.3g}, {high:.3g}] (beta is '
                f'exp(log_beta), clamped to that range), got {init_beta}')
        check_impl(impl)
        self.impl = impl
        self.num_heads = num_heads
        self.normalize = normalize
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.log_beta = nn.Parameter(torch.tensor(math.log(init_beta)))
        self.pointwise_out = out is None
        self.out = out if out is not None else conv1x1(2 * channels, channels,
                                                       norm_cfg, act_cfg)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        """Refuse a checkpoint whose temperature is not a finite number."""
        log_beta = state_dict.get(prefix + 'log_beta')
        if log_beta is not None and not torch.isfinite(log_beta).all():
            raise InputError(
                f'{prefix}log_beta in the checkpoint is {log_beta.tolist()}: '
                'the temperature beta = exp(log_beta) must be finite. The '
                'checkpoint comes from a run that diverged or is damaged.')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor, shifts: SVGAShifts) -> Tensor:
        if uses_standard_ops(self.impl):  # ONNX exports
            return standard_aggregation(x, self.qkv, self.out, self.log_beta,
                                        shifts, self.num_heads, self.normalize,
                                        self.pointwise_out)
        q, k, v = self.qkv(x).chunk(3, dim=1)
        m = svga_cross_attention(q, k, v, self.log_beta, shifts,
                                 self.num_heads, self.normalize, self.impl)
        return self.out(torch.cat([x, m], dim=1))


@torch.fx.wrap
def _neighbour_max(x: Tensor, shifts: SVGAShifts) -> Tensor:
    """``max_j x_j`` over the SVGA neighbours of every node."""
    out = None
    for x_s, in shifted_views((x, ), shifts):
        out = x_s if out is None else torch.maximum(out, x_s)
    return out if out is not None else torch.zeros_like(x)


@torch.fx.wrap
def _neighbour_sum(x: Tensor, shifts: SVGAShifts) -> Tensor:
    """``sum_j x_j`` over the SVGA neighbours of every node."""
    out = torch.zeros_like(x)
    for x_s, in shifted_views((x, ), shifts):
        out = out + x_s
    return out


class MaxRelativeAggregation(nn.Module):
    """Max-Relative graph conv: ``act(norm(W [x_i, max_j (x_j - x_i)]))``."""

    def __init__(
        self,
        channels: int,
        norm_cfg: ConfigType = dict(type='BN'),
        act_cfg: ConfigType = dict(type='GELU')
    ) -> None:
        super().__init__()
        self.out = conv1x1(2 * channels, channels, norm_cfg, act_cfg)

    def forward(self, x: Tensor, shifts: SVGAShifts) -> Tensor:
        return self.out(torch.cat([x, _neighbour_max(x, shifts) - x], dim=1))


class EdgeConvAggregation(nn.Module):
    """EdgeConv: ``act(norm(max_j W [x_i, x_j - x_i]))``.

    With ``W = [A, B]``, ``W [x_i, x_j - x_i] = (A - B) x_i + B x_j``, so the
    max over neighbours is taken of ``B x_j`` only and no per-edge tensor is
    formed. The norm and activation follow the max.
    """

    def __init__(
        self,
        channels: int,
        norm_cfg: ConfigType = dict(type='BN'),
        act_cfg: ConfigType = dict(type='GELU')
    ) -> None:
        super().__init__()
        self.self_proj = nn.Conv2d(channels, channels, 1, bias=False)
        self.edge_proj = nn.Conv2d(channels, channels, 1, bias=False)
        self.norm = build_norm_layer(norm_cfg, channels)[1]
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: Tensor, shifts: SVGAShifts) -> Tensor:
        edge = self.edge_proj(x)
        h = self.self_proj(x) - edge + _neighbour_max(edge, shifts)
        return self.act(self.norm(h))


class GINAggregation(nn.Module):
    """GIN: ``act(norm(W ((1 + eps) x_i + sum_j x_j)))``, ``eps`` learnable."""

    def __init__(
        self,
        channels: int,
        norm_cfg: ConfigType = dict(type='BN'),
        act_cfg: ConfigType = dict(type='GELU')
    ) -> None:
        super().__init__()
        self.eps = nn.Parameter(torch.zeros(()))
        self.out = conv1x1(channels, channels, norm_cfg, act_cfg)

    def forward(self, x: Tensor, shifts: SVGAShifts) -> Tensor:
        return self.out((1 + self.eps) * x + _neighbour_sum(x, shifts))


class GraphSAGEAggregation(nn.Module):
    """GraphSAGE (max pool):
    ``act(norm(W2 [x_i, max_j act(norm(W1 x_j))]))``."""

    def __init__(
        self,
        channels: int,
        norm_cfg: ConfigType = dict(type='BN'),
        act_cfg: ConfigType = dict(type='GELU')
    ) -> None:
        super().__init__()
        self.neighbour_proj = conv1x1(channels, channels, norm_cfg, act_cfg)
        self.out = conv1x1(2 * channels, channels, norm_cfg, act_cfg)

    def forward(self, x: Tensor, shifts: SVGAShifts) -> Tensor:
        pooled = _neighbour_max(self.neighbour_proj(x), shifts)
        return self.out(torch.cat([x, pooled], dim=1))


@torch.fx.wrap
def _dynamic_neighbour_max(x: Tensor, shifts: SVGAShifts) -> Tensor:
    """GreedyViG's dynamic axial graph: ``max(0, max_j (x_j - x_i))`` over
    the axial neighbours ``j`` (``x_j`` the map rolled by each offset of
    ``shifts``, as ``torch.roll``: row ``r`` sees row ``r - t``) whose L1
    distance to ``x_i`` is below ``mean - std`` of the distances to the node
    half a map away on both axes (per image; ``std`` unbiased)."""
    height, width = x.shape[-2:]
    quadrant = torch.roll(x, (-(-height // 2), -(-width // 2)), (-2, -1))
    distance = torch.linalg.vector_norm(x - quadrant, 1, dim=1, keepdim=True)
    threshold = torch.mean(distance, dim=[2, 3], keepdim=True) - \
        torch.std(distance, dim=[2, 3], keepdim=True)
    out = torch.zeros_like(x)
    for dim, offsets in ((-2, shifts.rows), (-1, shifts.cols)):
        for offset in offsets:
            rolled = torch.roll(x, offset, dim)
            near = torch.linalg.vector_norm(
                x - rolled, 1, dim=1, keepdim=True) < threshold
            out = torch.maximum(out, (rolled - x) * near)
    return out


class _PointwiseWrappedAggregation(nn.Module, metaclass=ABCMeta):
    """The lineage's graph conv layout (MobileViG, GreedyViG, AdaptViG):
    pointwise ``fc1`` (conv + norm), ``act(norm(W [x_i, m_i]))`` to
    ``expansion * C`` channels with ``m_i`` from :meth:`relative`, pointwise
    ``fc2`` (conv + norm) back to ``C``.

    Args:
        channels: Channels ``C``.
        norm_cfg: Norm layer config.
        act_cfg: Activation config.
    """

    expansion = 1

    def __init__(
        self,
        channels: int,
        norm_cfg: ConfigType = dict(type='BN'),
        act_cfg: ConfigType = dict(type='GELU')
    ) -> None:
        super().__init__()
        hidden = self.expansion * channels
        self.fc1 = conv1x1(channels, channels, norm_cfg, None)
        self.out = conv1x1(2 * channels, hidden, norm_cfg, act_cfg)
        self.fc2 = conv1x1(hidden, channels, norm_cfg, None)

    @abstractmethod
    def relative(self, x: Tensor, shifts: SVGAShifts) -> Tensor:
        """The aggregated features ``m``, ``(B, C, H, W)`` like ``x``."""

    def forward(self, x: Tensor, shifts: SVGAShifts) -> Tensor:
        x = self.fc1(x)
        x = self.out(torch.cat([x, self.relative(x, shifts)], dim=1))
        return self.fc2(x)


class DynamicMaxRelativeAggregation(_PointwiseWrappedAggregation):
    """GreedyViG's graph conv (Munir et al., CVPR 2024): Max-Relative over
    the neighbours kept by the dynamic axial graph
    (:func:`_dynamic_neighbour_max`) between ``fc1`` and ``fc2``."""

    def relative(self, x: Tensor, shifts: SVGAShifts) -> Tensor:
        return _dynamic_neighbour_max(x, shifts)


@torch.fx.wrap
def _neighbour_max_difference(x: Tensor, shifts: SVGAShifts) -> Tensor:
    """MobileViG's relative features ``max(0, max_j (x_i - x_j))`` over the
    SVGA neighbours (``x_j`` the map rolled by each offset, as
    ``torch.roll``)."""
    out = torch.zeros_like(x)
    for dim, offsets in ((-2, shifts.rows), (-1, shifts.cols)):
        for offset in offsets:
            out = torch.maximum(out, x - torch.roll(x, offset, dim))
    return out


class MobileViGMaxRelativeAggregation(_PointwiseWrappedAggregation):
    """MobileViG's Grapher (Munir et al., CVPRW 2023): Max-Relative over the
    SVGA neighbours (:func:`_neighbour_max_difference`) between ``fc1`` and
    ``fc2``, at ``2C`` channels in between."""

    expansion = 2

    def relative(self, x: Tensor, shifts: SVGAShifts) -> Tensor:
        return _neighbour_max_difference(x, shifts)


@torch.fx.wrap
def _gated_neighbour_max(x: Tensor, shifts: SVGAShifts,
                         temperature: Tensor) -> Tensor:
    """AdaptViG's adaptive graph conv features: ``max(0, max_j g_ij (x_j -
    x_i))`` over the nearest SVGA neighbour on each axis (offset ``K``;
    ``g = 1``) and the nodes at power-of-two offsets on each axis
    (:func:`mmvig.ops.svga_graph.exponential_offsets`), gated by exponential
    decay ``g_ij = exp(-|x_i - x_j|_1 / (|T| + 1e-6))``; ``x_j`` is the map
    rolled by the offset, as ``torch.roll``."""
    out = torch.zeros_like(x)
    scale = temperature.abs() + 1e-6
    for dim, nearest in ((-2, shifts.rows[:1]), (-1, shifts.cols[:1])):
        for offset in nearest:
            out = torch.maximum(out, torch.roll(x, offset, dim) - x)
        for offset in exponential_offsets(x.shape[dim]):
            rolled = torch.roll(x, offset, dim)
            distance = torch.linalg.vector_norm(
                x - rolled, 1, dim=1, keepdim=True)
            out = torch.maximum(out,
                                (rolled - x) * torch.exp(-distance / scale))
    return out


class GatedMaxRelativeAggregation(_PointwiseWrappedAggregation):
    """AdaptViG's adaptive graph conv of stages 1-3 (Munir et al., WACV
    2026): Max-Relative over a static axial scaffold whose long-range edges
    are weighted by exponential decay gating with a learnable temperature
    ``T`` (:func:`_gated_neighbour_max`), between ``fc1`` and ``fc2``."""

    def __init__(
        self,
        channels: int,
        norm_cfg: ConfigType = dict(type='BN'),
        act_cfg: ConfigType = dict(type='GELU')
    ) -> None:
        super().__init__(channels, norm_cfg, act_cfg)
        self.temperature = nn.Parameter(torch.tensor(1.0))

    def relative(self, x: Tensor, shifts: SVGAShifts) -> Tensor:
        return _gated_neighbour_max(x, shifts, self.temperature)


class GlobalAttentionAggregation(_PointwiseWrappedAggregation):
    """AdaptViG's global attention graph conv of stage 4 (Munir et al., WACV
    2026): every node attends to every node, ``m_i = max(0, sum_j a_ij v_j -
    x_i)`` with ``a = softmax(q k^T / sqrt(C / 4))``; ``q``, ``k`` are
    bias-free ``C -> C / 4`` projections, each LayerNorm-ed, ``v`` a
    bias-free ``C -> C`` projection. Between ``fc1`` and ``fc2``; the SVGA
    shifts are not used.

    Args:
        channels: Channels ``C`` (at least 4).
        norm_cfg: Norm layer config.
        act_cfg: Activation config.
    """

    def __init__(
        self,
        channels: int,
        norm_cfg: ConfigType = dict(type='BN'),
        act_cfg: ConfigType = dict(type='GELU')
    ) -> None:
        super().__init__(channels, norm_cfg, act_cfg)
        if channels < 4:
            raise InputError('GlobalAttention projects queries and keys to '
                             f'C / 4 channels: C must be >= 4, got {channels}')
        key_channels = channels // 4
        self.q = nn.Conv2d(channels, key_channels, 1, bias=False)
        self.k = nn.Conv2d(channels, key_channels, 1, bias=False)
        self.v = nn.Conv2d(channels, channels, 1, bias=False)
        self.q_norm = nn.LayerNorm(key_channels)
        self.k_norm = nn.LayerNorm(key_channels)

    def relative(self, x: Tensor, shifts: SVGAShifts) -> Tensor:
        q = self.q_norm(self.q(x).flatten(2).transpose(1, 2))
        k = self.k_norm(self.k(x).flatten(2).transpose(1, 2))
        v = self.v(x).flatten(2).transpose(1, 2)
        m = F.scaled_dot_product_attention(q, k, v)  # scale 1 / sqrt(C / 4)
        return torch.clamp_min(m.transpose(1, 2).reshape_as(x) - x, 0)


AGGREGATORS: Dict[str, type] = {
    'CrossAttention': CrossAttentionAggregation,
    'MaxRelative': MaxRelativeAggregation,
    'EdgeConv': EdgeConvAggregation,
    'GIN': GINAggregation,
    'GraphSAGE': GraphSAGEAggregation,
    'DynamicMaxRelative': DynamicMaxRelativeAggregation,
    'MobileViGMaxRelative': MobileViGMaxRelativeAggregation,
    'GatedMaxRelative': GatedMaxRelativeAggregation,
    'GlobalAttention': GlobalAttentionAggregation,
}


def build_aggregator(cfg: ConfigType, channels: int, norm_cfg: ConfigType,
                     act_cfg: ConfigType) -> nn.Module:
    """Build an aggregator from ``dict(type=NAME, **kwargs)``."""
    cfg = dict(cfg)
    name = cfg.pop('type', 'CrossAttention')
    if name not in AGGREGATORS:
        raise InputError(f'Unknown aggregator {name!r}; choose one of '
                         f'{sorted(AGGREGATORS)}')
    return AGGREGATORS[name](
        channels, norm_cfg=norm_cfg, act_cfg=act_cfg, **cfg)


# Functions whose Python depends on a map's size are single nodes when FX
# traces a model (torch.fx.wrap): timm's FX feature extraction and
# torchvision's create_feature_extractor see the layers around them.
torch.fx.wrap('svga_cross_attention')


@torch.fx.wrap
def _map_shifts(x: Tensor, stride: int,
                max_shifts: Optional[int]) -> SVGAShifts:
    """The SVGA shifts of ``x``'s ``H x W`` map."""
    return svga_shifts(x.shape[-2], x.shape[-1], stride, max_shifts)


@torch.fx.wrap
def _input_with_neighbours(x: Tensor, rules: Sequence[Tuple[int, int,
                                                            int]]) -> Tensor:
    """``x`` (images ``(B, C, H, W)``) if every Grapher stage will have
    neighbours (``rules`` from :meth:`AttentionViG._size_rules`)."""
    height, width = x.shape[-2:]
    failing = [rule for rule in rules if max(height, width) < rule[0]]
    if not failing:
        return x
    _, i, stride = failing[0]
    minimum = max(rule[0] for rule in rules)
    h, w = (math.ceil(s / 2**(i + 2)) for s in (height, width))
    raise InputError(
        f'Input {height}x{width} is too small for AttentionViG: stage '
        f'{i + 1} would be a {h}x{w} map, on which the SVGA graph (stride '
        f'{stride}) has no neighbours. Use inputs whose longer side is at '
        f'least {minimum} pixels.')


class Grapher(nn.Module):
    """Grapher block: positional encoding, graph aggregation, FFN.

    With ``pe(x) = x + dwconv7x7(x)`` the conditional positional encoding,
    the mixer is either (default, ``pos_embed_in_branch=True``)::

        x = x + drop_path(gamma1 * Agg(pe(x)))

    the layout of the authors' GreedyViG code (its ``Grapher`` mixer starts
    with the CPE, and the whole mixer is layer-scaled), or
    (``pos_embed_in_branch=False``)::

        x = pe(x);  x = x + drop_path(gamma1 * Agg(x))

    with the CPE on the residual stream. Then
    ``x = x + drop_path(gamma2 * FFN(x))``.

    Args:
        channels: Channels ``C``.
        aggregator: Aggregator config, ``dict(type=NAME, **kwargs)``.
        graph_stride: SVGA stride ``K``.
        max_shifts: Optional cap on shifts per axis (stride grows with the
            map).
        drop_path: Stochastic depth rate of both branches.
        layer_scale_init_value: Initial ``gamma``; ``<= 0`` disables it.
        pos_embed_in_branch: Put the positional encoding inside the
            layer-scaled mixer branch (True) or on the residual stream.
        pos_embed: Whether there is a positional encoding (MobileViG's
            Graphers have none).
        norm_cfg: Norm layer config.
        act_cfg: Activation config.
    """

    def __init__(
        self,
        channels: int,
        aggregator: ConfigType,
        graph_stride: int = 2,
        max_shifts: Optional[int] = None,
        drop_path: float = 0.,
        layer_scale_init_value: float = 1e-5,
        pos_embed_in_branch: bool = True,
        pos_embed: bool = True,
        norm_cfg: ConfigType = dict(type='BN'),
        act_cfg: ConfigType = dict(type='GELU')
    ) -> None:
        super().__init__()
        self.channels = channels
        self.graph_stride = graph_stride
        self.max_shifts = max_shifts
        self.pos_embed_in_branch = pos_embed_in_branch
        self.pos_embed = ConvPositionEncoding(channels) if pos_embed else None
        self.aggregate = Residual(
            build_aggregator(aggregator, channels, norm_cfg, act_cfg),
            channels, drop_path, layer_scale_init_value)
        self.ffn = Residual(
            FFN(channels, 4, norm_cfg, act_cfg), channels, drop_path,
            layer_scale_init_value)

    def shifts(self, height: int, width: int) -> SVGAShifts:
        """The SVGA shifts on a ``height x width`` map."""
        return svga_shifts(height, width, self.graph_stride, self.max_shifts)

    def aggregation_macs(self, height: int, width: int) -> int:
        """MACs of the neighbour aggregation on a ``height x width`` map,
        ``2 * C * H * W * N`` for ``N`` neighbours per node (cosines and the
        weighted sum of values), which FLOP counters do not see."""
        return 2 * self.channels * height * width * \
            self.shifts(height, width).num_neighbours

    def _mix(self, x: Tensor, shifts: SVGAShifts) -> Tensor:
        if self.pos_embed is None:
            return self.aggregate(x, shifts)
        if self.pos_embed_in_branch:
            return self.aggregate(x, shifts, branch_input=self.pos_embed(x))
        return self.aggregate(self.pos_embed(x), shifts)

    def forward(self, x: Tensor, with_cp: bool = False) -> Tensor:
        """``with_cp`` checkpoints the aggregation and the FFN separately, so
        the backward pass holds one of them at a time."""
        shifts = _map_shifts(x, self.graph_stride, self.max_shifts)
        if with_cp:
            x = checkpointed(self, x, shifts, forward=self._mix)
            return checkpointed(self.ffn, x)
        return self.ffn(self._mix(x, shifts))


class AttentionViGStage(nn.Sequential):
    """Downsample (optional), inverted residual blocks, Grapher blocks.

    Args:
        in_channels: Input channels.
        channels: Stage width ``C``.
        depth: Inverted residual blocks.
        num_graphers: Grapher blocks.
        drop_paths: Stochastic depth rate of each block, IRBs first.
        downsample: Start with a stride-2 conv.
        grapher_cfg: Keyword arguments of :class:`Grapher`, and
            ``layer_scale`` (default True): False leaves the Graphers'
            branches without layer scale.
        layer_scale_init_value: Initial ``gamma`` of every residual branch.
        norm_cfg: Norm layer config.
        act_cfg: Activation config.
        with_cp: Checkpoint each block (recompute it in the backward pass).
    """

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 depth: int,
                 num_graphers: int,
                 drop_paths: Sequence[float],
                 downsample: bool,
                 grapher_cfg: dict,
                 layer_scale_init_value: float,
                 norm_cfg: ConfigType,
                 act_cfg: ConfigType,
                 with_cp: bool = False) -> None:
        blocks: List[nn.Module] = []
        if downsample:
            blocks.append(downsample_conv(in_channels, channels, norm_cfg))
        for i in range(depth):
            blocks.append(
                Residual(
                    InvertedResidualBranch(channels, 4, norm_cfg, act_cfg),
                    channels, drop_paths[i], layer_scale_init_value))
        grapher_cfg = dict(grapher_cfg)
        grapher_scale = layer_scale_init_value if grapher_cfg.pop(
            'layer_scale', True) else 0.
        for i in range(depth, depth + num_graphers):
            blocks.append(
                Grapher(
                    channels,
                    drop_path=drop_paths[i],
                    layer_scale_init_value=grapher_scale,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    **grapher_cfg))
        super().__init__(*blocks)
        self.with_cp = with_cp

    def forward(self, x: Tensor) -> Tensor:
        with_cp = self.with_cp and x.requires_grad
        for block in self:
            if isinstance(block, Grapher):
                x = block(x, with_cp)
            else:
                x = checkpointed(block, x) if with_cp else block(x)
        return x


def _per_stage(value, name: str, num_stages: int = 4) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != num_stages:
            raise InputError(f'{name} needs one value per stage '
                             f'({num_stages}), got {value}')
        return list(value)
    return [value] * num_stages


@MODELS.register_module()
class AttentionViG(PyramidBackbone):
    """AttentionViG backbone for classification, detection and segmentation.

    ====  ==================  ==============  ========  =================
    arch  widths C1..C4       IRBs n1..n4     Graphers  params (cls head)
    ====  ==================  ==============  ========  =================
    s     48, 96, 192, 384    2, 2, 6, 2      2         12.3 M
    m     56, 112, 224, 448   4, 4, 12, 4     2         22.2 M
    b     64, 128, 256, 512   5, 5, 15, 5     2         32.3 M
    ====  ==================  ==============  ========  =================

    Args:
        arch: ``'s'``, ``'m'``, ``'b'`` or a dict with ``widths``, ``depths``
            and ``num_graphers`` (four values each; ``num_graphers`` may be
            one int).
        in_channels: Input image channels.
        out_indices: Stages whose outputs are returned (strides 4, 8, 16, 32).
        frozen_stages: Freeze the stem (``0``) and stages ``1..frozen_stages``;
            ``-1`` freezes nothing.
        norm_eval: Keep every BatchNorm (SyncBN too) in eval mode in training.
        drop_path_rate: Stochastic depth rate, growing linearly over blocks.
        layer_scale_init_value: Initial per-channel ``gamma`` of each branch.
        graph_strides: SVGA stride ``K`` per stage (int or four ints; the
            paper uses 2).
        max_shifts: Cap on SVGA shifts per axis per stage (``None`` for no
            cap; int or four values).
        aggregator: Neighbour aggregation, ``dict(type=NAME, **kwargs)`` with
            NAME in ``CrossAttention`` (``num_heads`` or ``head_dim``,
            ``normalize``, ``init_beta``), ``MaxRelative``, ``EdgeConv``,
            ``GIN``, ``GraphSAGE``; or a list of four, one per stage.
        pos_embed_in_branch: Where each Grapher's conditional positional
            encoding sits: inside the layer-scaled mixer branch (default, as
            in the authors' GreedyViG code) or on the residual stream
            (False). See :class:`Grapher`.
        norm_cfg: Norm layer config (``dict(type='SyncBN')`` for DDP).
        act_cfg: Activation config.
        with_cp: Activation checkpointing per stage (bool or four bools): a
            checkpointed stage (stage 1 with the stem) keeps only each block's
            input for the backward pass and runs the block again there,
            trading compute for memory.
        deploy: Build the folded model that :meth:`switch_to_deploy`
            leaves, to load a folded checkpoint (inference only).
        init_cfg: Init config; ``dict(type='Pretrained', checkpoint=PATH,
            prefix='backbone.')`` loads an mmvig ImageNet classifier.
    """

    # A Grapher's positional encoding and layer scales (a lineage model
    # without them sets them off).
    grapher_layout = dict(pos_embed=True, layer_scale=True)

    # yapf: disable
    arch_zoo = {
        's': dict(widths=[48, 96, 192, 384], depths=[2, 2, 6, 2],
                  num_graphers=[2, 2, 2, 2]),
        'm': dict(widths=[56, 112, 224, 448], depths=[4, 4, 12, 4],
                  num_graphers=[2, 2, 2, 2]),
        'b': dict(widths=[64, 128, 256, 512], depths=[5, 5, 15, 5],
                  num_graphers=[2, 2, 2, 2]),
    }
    # yapf: enable

    def __init__(self,
                 arch: Union[str, dict] = 's',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: float = 1e-5,
                 graph_strides: Union[int, Sequence[int]] = 2,
                 max_shifts: Union[None, int, Sequence[Optional[int]]] = None,
                 aggregator: Union[ConfigType, Sequence[ConfigType]] = dict(
                     type='CrossAttention'),
                 pos_embed_in_branch: bool = True,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='GELU'),
                 with_cp: Union[bool, Sequence[bool]] = False,
                 deploy: bool = False,
                 init_cfg: Optional[ConfigType] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self._parse_arch(arch)
        widths = self.arch_settings['widths']
        depths = self.arch_settings['depths']
        num_graphers = self.arch_settings['num_graphers']
        check_int(in_channels, 'in_channels', 1)
        self.out_indices = self._parse_out_indices(out_indices)
        self.frozen_stages = self._check_frozen_stages(frozen_stages)
        self.norm_eval = check_bool(norm_eval, 'norm_eval')
        self._check_drop_path_rate(drop_path_rate)
        check_number(layer_scale_init_value, 'layer_scale_init_value')
        check_bool(pos_embed_in_branch, 'pos_embed_in_branch')
        check_norm_cfg(norm_cfg, widths, type(self).__name__)
        self.graph_strides = _per_stage(graph_strides, 'graph_strides')
        self.max_shifts = _per_stage(max_shifts, 'max_shifts')
        for name, values, optional in (('graph_strides', self.graph_strides,
                                        False), ('max_shifts', self.max_shifts,
                                                 True)):
            for value in values:
                if not (optional and value is None):
                    check_int(
                        value, f'each of {name} (one or one per stage'
                        f'{", or None" if optional else ""}: {values})', 1)
        self.with_cp = [
            check_bool(value, 'with_cp')
            for value in _per_stage(with_cp, 'with_cp')
        ]
        aggregators = _per_stage(aggregator, 'aggregator')
        with torch.device('meta'):  # validate every stage's settings early
            for width, stage_aggregator in zip(widths, aggregators):
                build_aggregator(stage_aggregator, width, norm_cfg, act_cfg)

        self.stem = Stem(in_channels, widths[0], norm_cfg, act_cfg)
        blocks_per_stage = [d + g for d, g in zip(depths, num_graphers)]
        rates = torch.linspace(
            0, drop_path_rate, sum(blocks_per_stage), device='cpu')
        self.stages = nn.ModuleList()
        start = 0
        for i in range(self.num_stages):
            end = start + blocks_per_stage[i]
            self.stages.append(
                AttentionViGStage(
                    in_channels=widths[i - 1] if i else widths[0],
                    channels=widths[i],
                    depth=depths[i],
                    num_graphers=num_graphers[i],
                    drop_paths=rates[start:end].tolist(),
                    downsample=i > 0,
                    grapher_cfg=dict(
                        aggregator=aggregators[i],
                        graph_stride=self.graph_strides[i],
                        max_shifts=self.max_shifts[i],
                        pos_embed_in_branch=pos_embed_in_branch,
                        **self.grapher_layout),
                    layer_scale_init_value=layer_scale_init_value,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    with_cp=self.with_cp[i]))
            start = end
        self.level_channels = list(widths)
        self.out_channels = [widths[i] for i in self.out_indices]
        self._freeze_stages()
        if check_bool(deploy, 'deploy'):
            self.switch_to_deploy()

    def _parse_arch(self, arch: Union[str, dict]) -> dict:
        settings = self._arch_settings(arch,
                                       type(self).__name__,
                                       ('widths', 'depths', 'num_graphers'))
        return {
            key: [
                check_int(value, f'arch.{key}', int(key == 'widths'))
                for value in _per_stage(settings[key], f'arch.{key}')
            ]
            for key in ('widths', 'depths', 'num_graphers')
        }

    def _frozen(self) -> Tuple[List[nn.Module], List[nn.Parameter]]:
        modules = ([self.stem] if self.frozen_stages >= 0 else []) + list(
            self.stages[:max(self.frozen_stages, 0)])
        return modules, []

    def switch_to_deploy(self) -> None:
        """Fold for inference, in either mode (as mmpretrain's
        re-parameterisable backbones): the folded model computes what this
        one computes in eval mode, to float rounding. Every BatchNorm goes
        into its conv with its running statistics; the layer scale of each
        inverted residual and FFN branch into the branch's last conv; each
        positional encoding ``x + dwconv(x)`` becomes one depthwise conv. The
        aggregation branch keeps its layer scale (a GELU comes before it).
        The folded model cannot train."""
        fold_conv_modules(self)
        for module in self.modules():
            if isinstance(module, Residual) and \
                    isinstance(module.layer_scale, LayerScale2d):
                conv = last_conv(module.branch)
                if conv is not None:
                    scale_conv(conv, module.layer_scale.weight.reshape(-1))
                    module.layer_scale = nn.Identity()
            elif isinstance(module, ConvPositionEncoding):
                module.fold_identity()

    def _size_rules(self, last: int) -> Tuple[Tuple[int, int, int], ...]:
        """``(minimum longer side, stage, stride K)`` of every stage up to
        ``last`` with Grapher blocks: each needs a map whose longer side
        exceeds its stride ``K``, so an input longer than ``K * 2^(i+2)``."""
        return tuple(
            (self.graph_strides[i] * 2**(i + 2) + 1, i, self.graph_strides[i])
            for i in range(last + 1) if any(
                isinstance(m, Grapher) for m in self.stages[i]))

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Args: x: images ``(B, in_channels, H, W)``, any ``H, W``.

        Returns:
            tuple[Tensor]: stage outputs for ``out_indices``; stage ``i`` has
            shape ``(B, C_i, ceil(H / 2^(i+2)), ceil(W / 2^(i+2)))``.
        """
        return self.forward_levels(x, self.out_indices)

    def forward_levels(self, x: Tensor,
                       indices: Sequence[int]) -> Tuple[Tensor, ...]:
        """Outputs of the stages in ``indices`` (sorted, each in 0-3); runs
        the stages up to the deepest one asked for."""
        x = _input_with_neighbours(x, self._size_rules(max(indices)))
        if self.with_cp[0] and torch.is_grad_enabled() and \
                self.stem[0].conv.weight.requires_grad:
            x = checkpointed(self.stem, x)
        else:
            x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages[:max(indices) + 1]):
            x = stage(x)
            if i in indices:
                outs.append(x)
        return tuple(outs)


class LineageViG(AttentionViG):
    """Base of the lineage backbones (MobileViG, GreedyViG, AdaptViG):
    AttentionViG's skeleton with the authors' own aggregation, one config
    per stage in ``aggregation``, which ``aggregator=`` cannot replace. Every
    input size works: a map without neighbours at some offset aggregates
    zeros there, as the authors' code does.

    Args:
        arch: An ``arch_zoo`` name or a dict as :class:`AttentionViG` takes.
        graph_strides: SVGA stride ``K`` per stage.
        **kwargs: Every other argument of :class:`AttentionViG` but
            ``aggregator``.
    """

    aggregation: List[dict] = []

    def __init__(self, arch: Union[str, dict],
                 graph_strides: Union[int, Sequence[int]], **kwargs) -> None:
        if 'aggregator' in kwargs:
            names = ', '.join(
                dict.fromkeys(a['type'] for a in self.aggregation))
            raise InputError(
                f"{type(self).__name__}'s aggregation is its own ({names}); "
                'for another, use AttentionViG(aggregator=...)')
        super().__init__(
            arch,
            graph_strides=graph_strides,
            aggregator=self.aggregation,
            **kwargs)

    def _size_rules(self, last: int) -> Tuple[Tuple[int, int, int], ...]:
        return ()
