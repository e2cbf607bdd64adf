"""SAG-ViT backbone.

"SAG-ViT: A Scale-Aware, High-Fidelity Patching Approach with Graph Attention
for Vision Transformers", arXiv 2411.09420.

An EfficientNetV2 trunk (mmpretrain's
:class:`~mmpretrain.models.EfficientNetV2`) turns the image into feature maps
at strides 4, 8 and 16. The stride-16 map is cut into non-overlapping ``p x p``
patches ("high-fidelity patching": patches
of features, not of pixels), each projected to the model width; the patches
are the nodes of a k-connectivity graph whose edges carry the cosine
similarity of their endpoints
(:func:`mmvig.ops.grid_graph.k_connectivity_graph`).
Multi-head graph attention layers that use those edge weights update the
nodes, then a Transformer encoder with a class token and a conditional
(convolutional) position encoding models global dependencies.

As a dense backbone the four levels are the trunk's stride-4 and stride-8
maps, the stride-16 trunk map fused with the upsampled tokens, and the token
grid at stride 32. For classification, ``out_type='cls_token'`` returns the
class token for an MLP head.
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmcv.cnn.bricks import Conv2dAdaptivePadding, DropPath
from mmcv.cnn.bricks.transformer import PatchEmbed
from mmengine.model import ModuleList
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from ..errors import InputError
from ..ops.grid_graph import (GridGraph, k_connectivity_graph,
                              similarity_edge_weights)
from ..registry import MODELS
from ..typing_utils import ConfigType
from .base import PyramidBackbone, check_bool, check_int, check_norm_cfg
from .fold import fold_conv_modules
from .layers import ConvPositionEncoding, checkpointed
from .pretrained import load_pretrained_backbone


class GraphAttention(nn.Module):
    """Multi-head graph attention (GAT) with scalar edge weights.

    For head ``h``, node ``i`` and neighbour ``j`` with edge weight ``w_ij``::

        e_ij = LeakyReLU(a_dst . W x_i + a_src . W x_j + c w_ij)
        alpha_ij = softmax_j(e_ij)            (over i's neighbours)
        y_i = proj(GELU(concat_h(sum_j alpha_ij W x_j) + b))

    The edge term is PyG's ``GATConv(edge_dim=1)``; ``c`` starts at 1, so
    similar neighbours get more attention from the first step.

    Args:
        dims: Node width ``D``.
        num_heads: Heads; must divide ``D``.
        negative_slope: LeakyReLU slope.
        attn_drop: Dropout on the attention weights.
    """

    def __init__(self,
                 dims: int,
                 num_heads: int,
                 negative_slope: float = 0.2,
                 attn_drop: float = 0.) -> None:
        super().__init__()
        if dims % num_heads:
            raise InputError(f'GAT heads ({num_heads}) must divide the width '
                             f'({dims})')
        self.num_heads = num_heads
        self.negative_slope = negative_slope
        self.fc = nn.Linear(dims, dims, bias=False)
        self.att_dst = nn.Parameter(torch.empty(num_heads, dims // num_heads))
        self.att_src = nn.Parameter(torch.empty(num_heads, dims // num_heads))
        self.att_edge = nn.Parameter(torch.ones(num_heads))
        self.bias = nn.Parameter(torch.zeros(dims))
        self.attn_drop = nn.Dropout(attn_drop)
        self.act = nn.GELU()
        self.proj = nn.Linear(dims, dims)
        nn.init.xavier_uniform_(self.att_dst)
        nn.init.xavier_uniform_(self.att_src)

    def attention(self, h: Tensor, graph: GridGraph,
                  weights: Tensor) -> Tensor:
        """Attention weights ``(B, N, K, heads)`` of projected nodes ``h``
        ``(B, N, heads, D / heads)``; masked slots get 0."""
        score_dst = (h * self.att_dst).sum(-1)  # (B, N, heads)
        score_src = (h * self.att_src).sum(-1)
        logits = (
            score_dst[:, :, None] + score_src[:, graph.index] +
            weights[..., None] * self.att_edge)
        logits = F.leaky_relu(logits, self.negative_slope)
        logits = logits.masked_fill(~graph.mask[..., None], float('-inf'))
        return logits.softmax(dim=2)

    def forward(self, x: Tensor, graph: GridGraph, weights: Tensor) -> Tensor:
        """Args:
            x: Nodes ``(B, N, D)``.
            graph: Neighbour table of the node grid (``N`` nodes, ``K`` slots).
            weights: Edge weights ``(B, N, K)``.

        Returns:
            Tensor: ``(B, N, D)``.
        """
        h = self.fc(x).reshape(x.shape[0], x.shape[1], self.num_heads, -1)
        attn = self.attn_drop(self.attention(h, graph, weights))
        out = (attn[..., None] * h[:, graph.index]).sum(2)  # (B, N, heads, c)
        return self.proj(self.act(out.flatten(2) + self.bias))


class GATBlock(nn.Module):
    """Pre-norm residual graph attention: ``x + drop_path(GAT(norm(x)))``.

    Args:
        dims: Node width ``D``.
        num_heads: GAT heads.
        drop_path: Stochastic depth rate.
        norm_cfg: Norm layer config (over ``D``).
    """

    def __init__(
        self,
        dims: int,
        num_heads: int,
        drop_path: float = 0.,
        norm_cfg: ConfigType = dict(type='LN')) -> None:
        super().__init__()
        self.norm = build_norm_layer(norm_cfg, dims)[1]
        self.attn = GraphAttention(dims, num_heads)
        self.drop_path = DropPath(
            drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor, graph: GridGraph, weights: Tensor) -> Tensor:
        """``(B, N, D) -> (B, N, D)``; see :class:`GraphAttention`."""
        return x + self.drop_path(self.attn(self.norm(x), graph, weights))


# Functions whose Python depends on a map's size are single nodes when FX
# traces a model (torch.fx.wrap); mmcv's PatchEmbed and mmpretrain's
# Transformer layer unpack shapes too, and are leaf modules of timm's FX
# tracer (registered with the timm models).
@torch.fx.wrap
def _resize(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """``x`` ``(B, C, h, w)`` resized bilinearly to ``size`` (itself if it has
    that size)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


@torch.fx.wrap
def _strided_size(x: Tensor, stride: int) -> Tuple[int, int]:
    """``(ceil(H / stride), ceil(W / stride))`` of images ``x``."""
    return tuple(math.ceil(s / stride) for s in x.shape[-2:])


@torch.fx.wrap
def _patch_graph(size: Tuple[int, int], k: int, like: Tensor) -> GridGraph:
    """The k-connectivity graph of a ``rows x cols`` patch grid, on
    ``like``'s device."""
    return k_connectivity_graph(size[0], size[1], k, like.device)


@torch.fx.wrap
def _input_holding_patch_grid(x: Tensor, patch_size: int, k: int) -> Tensor:
    """``x`` (images ``(B, C, H, W)``) if its patch grid can hold ``k``-step
    neighbourhoods; see :meth:`SAGViT.node_grid`."""
    node_grid(*x.shape[-2:], patch_size, k)
    return x


def node_grid(height: int, width: int, patch_size: int,
              k: int) -> Tuple[int, int]:
    """Patch grid ``(rows, cols)`` of an ``H x W`` input, checked.

    Raises:
        InputError: the stride-16 map is smaller than one patch, or the
            grid has no more than ``k`` nodes per side.
    """
    p = patch_size
    h16, w16 = math.ceil(height / 16), math.ceil(width / 16)
    if min(h16, w16) < p:
        raise InputError(
            f'Input {height}x{width} is too small for SAG-ViT with '
            f'patch_size={p}: its stride-16 feature map is {h16}x{w16}, '
            f'which cannot hold one {p}x{p} patch. Use inputs of at least '
            f'{16 * p} pixels per side or a smaller patch_size.')
    rows, cols = math.ceil(h16 / p), math.ceil(w16 / p)
    if min(rows, cols) <= k:
        raise InputError(
            f'Input {height}x{width} is too small for SAG-ViT with k={k}: '
            f'its patch grid is {rows}x{cols} (patch_size={p} on the '
            f'stride-16 map), which cannot hold {k}-step neighbourhoods '
            f'(more than {k} patches per side needed). Use inputs of at '
            f'least {16 * p * k + 1} pixels per side, or a smaller k or '
            f'patch_size.')
    return rows, cols


@torch.fx.wrap
def _same_padding(x: Tensor, kernel_size: Tuple[int, int],
                  stride: Tuple[int, int], dilation: Tuple[int,
                                                           int]) -> Tensor:
    """``x`` zero-padded for a "same" convolution (TensorFlow's rule, which
    mmcv's ``Conv2dAdaptivePadding`` applies): ``ceil(size / stride)``
    outputs per side, the extra pixel at the bottom and right."""
    pads = []
    for size, k, s, d in zip(
            reversed(x.shape[-2:]), reversed(kernel_size), reversed(stride),
            reversed(dilation)):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class SamePaddingConv2d(Conv2dAdaptivePadding, nn.Conv2d):
    """mmcv's ``Conv2dAdaptivePadding`` (the EfficientNetV2 trunk's convs,
    same parameters) with its size arithmetic in one function, so that FX
    traces the trunk. The trunk's convs are replaced by this class after
    mmpretrain builds them (:func:`same_padding_convs`). ``nn.Conv2d`` is a
    direct base too: mmengine's initialisers match a layer by its class's and
    its direct bases' names (the trunk's ``Kaiming`` init names ``Conv2d``)."""

    def forward(self, x: Tensor) -> Tensor:
        x = _same_padding(x, self.kernel_size, self.stride, self.dilation)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding,
                        self.dilation, self.groups)


class PatchEmbedding(PatchEmbed):
    """mmcv's :class:`~mmcv.cnn.bricks.transformer.PatchEmbed` (same keys),
    a class of mmvig's own so that timm's FX tracer can keep it whole."""


def efficientnet_v2() -> type:
    """mmpretrain's ``EfficientNetV2`` (mmpretrain is imported when a SAG-ViT
    is built, not when mmvig is)."""
    from mmpretrain.models.backbones import EfficientNetV2
    return EfficientNetV2


def same_padding_convs(module: nn.Module) -> int:
    """Replace each of ``module``'s ``Conv2dAdaptivePadding`` convs by a
    :class:`SamePaddingConv2d` holding the same parameters (built on the
    meta device, so no random draw is spent); returns how many."""
    replaced = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not Conv2dAdaptivePadding:
                continue
            with torch.device('meta'):
                conv = SamePaddingConv2d(child.in_channels, child.out_channels,
                                         child.kernel_size, child.stride, 0,
                                         child.dilation, child.groups,
                                         child.bias is not None)
            conv.weight, conv.bias = child.weight, child.bias
            conv.train(child.training)
            setattr(parent, name, conv)
            replaced += 1
    return replaced


@MODELS.register_module()
class SAGViT(PyramidBackbone):
    """SAG-ViT: EfficientNetV2 features, graph attention, Transformer.

    ========  =======  ======  ==========  ==========  =======  =========
    arch      trunk    width   GAT layers  GAT heads   depth    heads
    ========  =======  ======  ==========  ==========  =======  =========
    small     b0       256     2           4           6        8
    base      s        384     2           6           8        6
    ========  =======  ======  ==========  ==========  =======  =========

    ``trunk`` is the EfficientNetV2 arch (its first six layers, up to stride
    16: channels 32/48/112 for ``b0``, 48/64/160 for ``s``); the Transformer's
    MLP ratio is 4.

    Args:
        arch: ``'small'``, ``'base'`` or a dict with ``trunk``,
            ``embed_dims``, ``gat_layers``, ``gat_heads``, ``depth``,
            ``num_heads`` and optionally ``mlp_ratio``.
        in_channels: Input image channels.
        patch_size: Side ``p`` of the feature patches cut from the stride-16
            map; nodes sit at stride ``16p``.
        k: k-connectivity of the patch graph: each node is linked to the
            nodes within ``k`` steps (``(2k+1)^2`` slots, itself included).
        out_indices: Levels returned, strides 4, 8, 16, 32: the trunk's
            stride-4 and -8 maps, the stride-16 trunk map (projected to the
            width) plus the upsampled tokens, the token grid resized to
            stride 32.
        out_type: Level 3 as ``'featmap'`` ``(B, D, H/32, W/32)`` or
            ``'cls_token'`` ``(B, D)`` (classification).
        frozen_stages: Freeze the trunk's stem (``0``) and stages
            ``1..frozen_stages``: 1-3 are the trunk up to strides 4, 8, 16
            (3 with the stride-16 projection), 4 the patching, graph and
            Transformer. ``-1`` freezes nothing.
        norm_eval: Keep every BatchNorm (the trunk's) in eval mode in
            training.
        drop_path_rate: Stochastic depth rate, linear over the GAT and
            Transformer layers; the trunk's MBConv blocks use it too.
        norm_cfg: Norm config of the trunk and the stride-16 projection;
            the default matches mmpretrain's EfficientNetV2 weights.
        with_cp: Activation checkpointing of every trunk layer, GAT and
            Transformer block (BatchNorm statistics updated once).
        trunk_init_cfg: ``dict(type='Pretrained', checkpoint=PATH,
            prefix='backbone.')`` loads an mmpretrain EfficientNetV2
            checkpoint into the trunk (every trunk key must be present).
        deploy: Build the folded model that :meth:`switch_to_deploy`
            leaves, to load a folded checkpoint (inference only).
        init_cfg: Init config; ``dict(type='Pretrained', checkpoint=PATH,
            prefix='backbone.')`` loads an mmvig SAG-ViT classifier.
    """

    # An ImageNet classifier (level 3 only) has no lateral conv: a dense
    # backbone starts it from its own initialisation.
    optional_checkpoint_keys = ('lateral.', )

    # yapf: disable
    arch_zoo = {
        **dict.fromkeys(['s', 'small'], dict(
            trunk='b0', embed_dims=256, gat_layers=2, gat_heads=4, depth=6,
            num_heads=8, mlp_ratio=4)),
        **dict.fromkeys(['b', 'base'], dict(
            trunk='s', embed_dims=384, gat_layers=2, gat_heads=6, depth=8,
            num_heads=6, mlp_ratio=4)),
    }
    # yapf: enable
    # Trunk layers (mmpretrain EfficientNetV2) ending at strides 4, 8, 16.
    trunk_out = (2, 3, 5)

    def __init__(self,
                 arch: Union[str, dict] = 'small',
                 in_channels: int = 3,
                 patch_size: int = 2,
                 k: int = 1,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 out_type: str = 'featmap',
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 drop_path_rate: float = 0.,
                 norm_cfg: ConfigType = dict(
                     type='BN', eps=1e-3, momentum=0.1),
                 with_cp: bool = False,
                 trunk_init_cfg: Optional[ConfigType] = None,
                 deploy: bool = False,
                 init_cfg: Optional[ConfigType] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self._parse_arch(arch)
        check_int(in_channels, 'in_channels', 1)
        check_int(patch_size, 'patch_size', 1)
        check_int(k, 'k (graph connectivity)', 1)
        if out_type not in ('featmap', 'cls_token'):
            raise InputError(f"out_type must be 'featmap' or 'cls_token', got "
                             f'{out_type!r}')
        self._check_drop_path_rate(drop_path_rate)
        self.patch_size, self.k = patch_size, k
        self.out_indices = self._parse_out_indices(out_indices)
        self.out_type = out_type
        self.frozen_stages = self._check_frozen_stages(frozen_stages)
        self.norm_eval = check_bool(norm_eval, 'norm_eval')
        self.with_cp = check_bool(with_cp, 'with_cp')
        from .transformer_layer import TransformerLayer
        EfficientNetV2 = efficientnet_v2()
        trunk_rows = EfficientNetV2.arch_settings[self.arch_settings['trunk']]
        check_norm_cfg(norm_cfg, [row[5] for row in trunk_rows], 'SAG-ViT')
        if trunk_init_cfg is not None and (
                not isinstance(trunk_init_cfg, dict)
                or trunk_init_cfg.get('type') != 'Pretrained'):
            raise InputError("trunk_init_cfg must be dict(type='Pretrained', "
                             f'checkpoint=...), got {trunk_init_cfg}')
        self.trunk_init_cfg = trunk_init_cfg
        dims = self.arch_settings['embed_dims']

        device = torch.get_default_device()
        with torch.device('cpu'):  # EfficientNetV2 reads tensors (.item())
            self.trunk = EfficientNetV2(
                self.arch_settings['trunk'],
                in_channels=in_channels,
                drop_path_rate=drop_path_rate,
                out_indices=self.trunk_out,
                norm_cfg=norm_cfg)
        del self.trunk.layers[self.trunk_out[-1] + 1:]
        self.trunk.to(device)
        same_padding_convs(self.trunk)
        # Layer i >= 1 of the trunk is row i - 1 of its arch table, whose
        # sixth entry is the output width.
        self.trunk_channels = [
            self.trunk.arch[i - 1][5] for i in self.trunk_out
        ]
        # Level 2 only: a classifier (level 3) must not carry parameters
        # that get no gradient (DDP refuses them).
        self.lateral = None
        self._lateral_cfg = dict(
            in_channels=self.trunk_channels[2],
            out_channels=dims,
            kernel_size=1,
            norm_cfg=norm_cfg,
            act_cfg=None)
        if 2 in self.out_indices:
            self.add_lateral()
        self.patch_embed = PatchEmbedding(
            self.trunk_channels[2],
            dims,
            kernel_size=patch_size,
            stride=patch_size,
            padding='corner',
            norm_cfg=dict(type='LN'))
        num_gat = self.arch_settings['gat_layers']
        depth = self.arch_settings['depth']
        rates = torch.linspace(
            0, drop_path_rate, num_gat + depth, device='cpu').tolist()
        self.gat_blocks = ModuleList(
            GATBlock(dims, self.arch_settings['gat_heads'], rates[i])
            for i in range(num_gat))
        self.pos_embed = ConvPositionEncoding(dims, kernel_size=3)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dims))
        self.layers = ModuleList(
            TransformerLayer(
                dims,
                self.arch_settings['num_heads'],
                int(dims * self.arch_settings['mlp_ratio']),
                drop_path_rate=rates[num_gat + i]) for i in range(depth))
        self.norm = build_norm_layer(dict(type='LN'), dims)[1]
        self.level_channels = self.trunk_channels[:2] + [dims, dims]
        self.out_channels = [self.level_channels[i] for i in self.out_indices]
        self._freeze_stages()
        if check_bool(deploy, 'deploy'):
            self.switch_to_deploy()

    def switch_to_deploy(self) -> None:
        """Fold for inference, in either mode: the folded model computes what
        this one computes in eval mode. Every BatchNorm of the convolutional
        parts (the EfficientNetV2 trunk, the lateral conv) goes into its conv
        with its running statistics; the token grid's positional encoding
        becomes one depthwise conv. LayerNorms (graph attention, Transformer)
        stay."""
        fold_conv_modules(self)
        self.pos_embed.fold_identity()

    def add_lateral(self) -> None:
        """Build the stride-16 lateral conv that level 2 needs (a model
        built without level 2 in ``out_indices`` has none)."""
        if self.lateral is None:
            self.lateral = ConvModule(**self._lateral_cfg)

    def _parse_arch(self, arch: Union[str, dict]) -> dict:
        arch = self._arch_settings(arch, 'SAG-ViT',
                                   ('trunk', 'embed_dims', 'gat_layers',
                                    'gat_heads', 'depth', 'num_heads'))
        EfficientNetV2 = efficientnet_v2()
        if arch['trunk'] not in EfficientNetV2.arch_settings:
            raise InputError(
                f"Unknown EfficientNetV2 trunk {arch['trunk']!r}; "
                f'choose one of '
                f'{sorted(EfficientNetV2.arch_settings)}')
        for key in ('gat_heads', 'num_heads'):
            if arch['embed_dims'] % arch[key]:
                raise InputError(f'{key} ({arch[key]}) must divide embed_dims '
                                 f"({arch['embed_dims']})")
        return dict(dict(mlp_ratio=4), **arch)

    def _stages(self) -> List[List[nn.Module]]:
        """Modules of the stem (index 0) and of stages 1-4."""
        layers = self.trunk.layers
        stages = [
            list(layers[0:1]),
            list(layers[1:3]),
            list(layers[3:4]),
            list(layers[4:6]) + [self.lateral],
            [
                self.patch_embed, self.gat_blocks, self.pos_embed, self.layers,
                self.norm
            ]
        ]
        return [[m for m in stage if m is not None] for stage in stages]

    def _frozen(self) -> Tuple[List[nn.Module], List[nn.Parameter]]:
        modules = [
            m for stage in self._stages()[:self.frozen_stages + 1]
            for m in stage
        ]
        return modules, [self.cls_token] if self.frozen_stages >= 4 and \
            self.cls_token is not None else []

    def init_weights(self) -> None:
        if self._load_pretrained():
            return
        super().init_weights()
        trunc_normal_(self.cls_token, std=.02)
        for module in self.gat_blocks.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if self.trunk_init_cfg is not None:
            load_pretrained_backbone(self.trunk,
                                     self.trunk_init_cfg['checkpoint'],
                                     self.trunk_init_cfg.get('prefix'))

    def node_grid(self, height: int, width: int) -> Tuple[int, int]:
        """:func:`node_grid` with this model's ``patch_size`` and ``k``."""
        return node_grid(height, width, self.patch_size, self.k)

    def _run(self, module: nn.Module, x: Tensor, *args) -> Tensor:
        if self.with_cp and torch.is_grad_enabled() and any(
                p.requires_grad for p in module.parameters()):
            return checkpointed(module, x, *args)
        return module(x, *args)

    def _tokens(self, f16: Tensor) -> Tuple[Tensor, Tensor]:
        """Patching, graph attention and Transformer.

        Returns:
            tuple: class token ``(B, D)`` and token grid ``(B, D, rows,
            cols)``, both after the final norm.
        """
        x, size = self.patch_embed(f16)
        graph = _patch_graph(size, self.k, x)
        weights = similarity_edge_weights(x, graph)
        for block in self.gat_blocks:
            x = self._run(block, x, graph, weights)
        grid = self.pos_embed(
            x.transpose(1, 2).reshape(x.shape[0], -1, size[0], size[1]))
        x = torch.cat([
            self.cls_token.expand(x.shape[0], -1, -1),
            grid.flatten(2).transpose(1, 2)
        ],
                      dim=1)
        for layer in self.layers:
            x = self._run(layer, x)
        x = self.norm(x)
        return x[:, 0], x[:, 1:].transpose(1,
                                           2).reshape(x.shape[0], -1, size[0],
                                                      size[1])

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Args: x: images ``(B, in_channels, H, W)``, any ``H, W`` whose
        stride-16 map holds the patch grid (see :meth:`node_grid`).

        Returns:
            tuple[Tensor]: levels in ``out_indices``; level ``i`` is
            ``(B, C_i, ceil(H / 2^(i+2)), ceil(W / 2^(i+2)))``, or ``(B, D)``
            for level 3 with ``out_type='cls_token'``.
        """
        return self.forward_levels(x, self.out_indices, self.out_type)

    def forward_parts(
            self, x: Tensor, num_maps: int, tokens: bool
    ) -> Tuple[List[Tensor], Optional[Tuple[Tensor, Tensor]]]:
        """The trunk's first ``num_maps`` maps (strides 4, 8, 16) and, with
        ``tokens``, :meth:`_tokens` of the stride-16 map (the input size
        checked first); runs only the trunk layers that needs."""
        if tokens:
            x = _input_holding_patch_grid(x, self.patch_size, self.k)
            num_maps = 3
        maps = []
        for i, layer in enumerate(
                self.trunk.layers[:self.trunk_out[num_maps - 1] + 1]):
            x = self._run(layer, x)
            if i in self.trunk_out:
                maps.append(x)
        return maps, self._tokens(maps[2]) if tokens else None

    def forward_levels(self,
                       x: Tensor,
                       indices: Sequence[int],
                       out_type: str = 'featmap') -> Tuple[Tensor, ...]:
        """Levels ``indices`` (sorted, each in 0-3), level 3 as ``out_type``;
        runs only the parts the deepest level asked for needs."""
        last = max(indices)
        maps, tokens = self.forward_parts(x, min(last, 2) + 1, last >= 2)
        outs = {i: maps[i] for i in (0, 1) if i in indices}
        if tokens is not None:
            cls_token, grid = tokens
            if 2 in indices:
                if self.lateral is None:
                    raise InputError(
                        'Level 2 needs the lateral conv, which this SAGViT '
                        'was built without (2 not in out_indices); call '
                        'add_lateral() first.')
                outs[2] = self._run(self.lateral, maps[2]) + _resize(
                    grid, maps[2].shape[-2:])
            if 3 in indices:
                outs[3] = cls_token if out_type == 'cls_token' else \
                    _resize(grid, _strided_size(x, 32))
        return tuple(outs[i] for i in indices)

    def truncate(self, num_maps: int) -> None:
        """Keep the trunk up to its ``num_maps``-th map (1-3) and drop the
        lateral conv, patching, graph attention and Transformer, so that a
        feature extractor of those maps has no unused parameters."""
        del self.trunk.layers[self.trunk_out[num_maps - 1] + 1:]
        for name in ('lateral', 'patch_embed', 'gat_blocks', 'pos_embed',
                     'layers', 'norm', 'cls_token'):
            setattr(self, name, None)
