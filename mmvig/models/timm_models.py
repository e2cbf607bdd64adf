"""timm models: ``timm.create_model('attentionvig_s' | 'attentionvig_m' |
'attentionvig_b' | 'greedyvig_s' | 'greedyvig_m' | 'greedyvig_b' |
'mobilevig_ti' | 'mobilevig_s' | 'mobilevig_m' | 'mobilevig_b' |
'adaptvig_s' | 'adaptvig_m' | 'adaptvig_b' | 'sagvit_small' |
'sagvit_base')``.

:mod:`mmvig.registry` imports this module as soon as timm is imported. The
models are built by timm's own machinery (``build_model_with_cfg`` and
``generate_default_cfgs``), so timm's conventions hold for them:
``pretrained_cfg`` (mean, std, crop, interpolation) for
``resolve_data_config``, ``features_only=True`` (timm's ``FeatureGetterNet``
over :meth:`forward_intermediates`), ``set_grad_checkpointing``,
``group_matcher``, ``no_weight_decay``, ``forward_features`` /
``forward_head(pre_logits=True)`` and ``reset_classifier``.

Checkpoint keys are those of the mmpretrain classifiers of mmvig's ImageNet
configs (``backbone.*``, ``head.*``), so
``timm.create_model('attentionvig_s', checkpoint_path='epoch_300.pth')``
loads an mmvig checkpoint (through timm's ``weights_only`` loader), and
``timm.create_model('greedyvig_s', checkpoint_path=...)`` the authors'
GreedyViG (or MobileViG, AdaptViG) weights converted by
``tools/model_converters/lineage_to_mmvig.py``.
mmvig publishes no weights for timm to download: ``pretrained=True`` needs
``pretrained_cfg_overlay=dict(file=PATH)``.

The backbones (mmcv's layers; mmpretrain for SAG-ViT) are imported when a
model is built, not when this module loads.
"""
import contextlib
from typing import List, Optional, Sequence, Set, Tuple, Union

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import (build_model_with_cfg, generate_default_cfgs,
                         register_model)
from torch import Tensor, nn

from ..errors import InputError


def _take_indices(num_levels: int,
                  indices: Optional[Union[int, Sequence[int]]]) -> List[int]:
    """The levels ``forward_intermediates(indices=...)`` takes, as timm's
    models read the argument: ``None`` all levels, ``n`` the last ``n``, a
    sequence the levels it names (negative from the end); sorted, each once.

    Raises:
        InputError: ``n`` or a level outside ``num_levels``.
    """
    if indices is None:
        return list(range(num_levels))
    if isinstance(indices, int):
        if not 0 < indices <= num_levels:
            raise InputError(f'indices={indices}: the last n levels take n '
                             f'from 1 to {num_levels}')
        return list(range(num_levels - indices, num_levels))
    taken = set()
    for index in indices:
        if not -num_levels <= index < num_levels:
            raise InputError(f'level {index} of indices={list(indices)} is '
                             f'not one of the {num_levels} levels')
        taken.add(index % num_levels)
    return sorted(taken)


def _on_device(device: Optional[Union[str, torch.device]]):
    """Build under ``torch.device(device)`` (timm's ``device=`` factory
    argument, ``'meta'`` included)."""
    return torch.device(device) if device is not None else \
        contextlib.nullcontext()


class _TimmClassifier(nn.Module):
    """What the two timm classifiers share: ``self.backbone`` (an mmvig
    backbone with four levels) and ``self.head``; subclasses define
    ``levels()`` (``(channels, module)`` of each level
    :meth:`forward_intermediates` returns, for ``feature_info``),
    ``_make_head(num_classes)``, ``classifier_names`` (the final linear
    layers), ``head_hidden_size`` (their input width), ``forward_features``,
    ``forward_head``, ``set_grad_checkpointing`` and ``group_matcher``."""

    num_levels = 4
    # The pooling reset_classifier(num_classes, global_pool) may choose.
    global_pools: Tuple[str, ...] = ('avg', )

    def __init__(self, backbone: nn.Module, num_classes: int, in_chans: int,
                 drop_rate: float, global_pool: Optional[str]) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.drop_rate = drop_rate
        self.num_features = backbone.level_channels[-1]
        self.global_pool = self._check_pool(
            num_classes,
            self.global_pools[0] if global_pool is None else global_pool)
        self.head = self._make_head(num_classes) if global_pool != '' \
            else nn.Identity()
        self.feature_info = [
            dict(num_chs=channels, reduction=2**(i + 2), module=module)
            for i, (channels, module) in enumerate(self.levels())
        ]

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self,
                         num_classes: int,
                         global_pool: Optional[str] = None) -> None:
        """New final linear layers for ``num_classes``, the head's hidden
        layer kept (0: the model returns the hidden features), on the
        model's device and dtype. ``global_pool`` one of
        :attr:`global_pools` (``None`` keeps it); ``''`` (with 0 classes)
        removes the pooling and the head: the model returns
        ``forward_features``' unpooled map. Classes after ``''`` bring back
        the default pooling and a new head."""
        if global_pool is None and num_classes and self.global_pool == '':
            global_pool = self.global_pools[0]
        if global_pool is not None:
            self._check_pool(num_classes, global_pool)
        like = next(self.backbone.parameters())
        factory = dict(device=like.device, dtype=like.dtype)
        training = self.training
        if global_pool == '':
            self.head = nn.Identity()
        elif self.head_removed:
            self.head = self._make_head(num_classes).to(**factory)
        else:
            for name in self.classifier_names:
                parent, _, attr = name.rpartition('.')
                setattr(
                    self.get_submodule(parent), attr,
                    nn.Linear(self.head_hidden_size, num_classes, **factory)
                    if num_classes else nn.Identity())
        if global_pool is not None:
            self.global_pool = global_pool
        self.num_classes = num_classes
        self.train(training)

    def _check_pool(self, num_classes: int, global_pool: str) -> str:
        if global_pool not in self.global_pools:
            raise ValueError(f'global_pool must be one of '
                             f'{self.global_pools}, got {global_pool!r}')
        if global_pool == '' and num_classes:
            raise ValueError("global_pool='' (no pooling) leaves no features "
                             'for a classifier: use it with num_classes=0')
        return global_pool

    @property
    def head_removed(self) -> bool:
        """True after ``reset_classifier(0, '')`` or a pruning that drops
        the head: :meth:`forward_head` returns its input."""
        return isinstance(self.head, nn.Identity)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def switch_to_deploy(self) -> None:
        """Fold BatchNorms and layer scales for inference (eval mode only):
        the backbone's ``switch_to_deploy``, and the head's."""
        from .fold import fold_parts
        fold_parts(self)

    @torch.jit.ignore
    def no_weight_decay(self) -> Set[str]:
        """Layer scales and temperatures, as mmvig's ImageNet configs (timm
        skips 1-D parameters and biases by itself)."""
        return {
            n
            for n, _ in self.named_parameters()
            if n.endswith(('layer_scale.weight', 'log_beta', 'cls_token'))
        }

    def forward_intermediates(
        self,
        x: Tensor,
        indices: Optional[Union[int, Sequence[int]]] = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = 'NCHW',
        intermediates_only: bool = False
    ) -> Union[List[Tensor], Tuple[Tensor, List[Tensor]]]:
        """The levels ``indices`` (timm's convention) as ``(B, C_i, H_i,
        W_i)`` maps, and with ``intermediates_only=False`` the final
        features too. ``norm`` and ``stop_early`` have nothing to act on
        (no final norm; levels are computed up to the deepest one asked)."""
        if output_fmt != 'NCHW':
            raise ValueError(f"output_fmt {output_fmt!r}: only 'NCHW'")
        taken = _take_indices(self.num_levels, indices)
        levels, final = self._levels(x, taken)
        if intermediates_only:
            return levels
        return (self.forward_features(x) if final is None else final), levels

    def _levels(self, x: Tensor,
                taken: List[int]) -> Tuple[List[Tensor], Optional[Tensor]]:
        """The levels ``taken`` and, where computed on the way,
        :meth:`forward_features`' output (else ``None``)."""
        return list(self.backbone.forward_levels(x, taken)), None

    def prune_intermediate_layers(self,
                                  indices: Union[int, Sequence[int]] = 1,
                                  prune_norm: bool = False,
                                  prune_head: bool = True) -> List[int]:
        """Drop the classifier head, hidden layer included (with
        ``prune_head``: the model then returns :meth:`forward_features`);
        returns the absolute indices."""
        taken = _take_indices(self.num_levels, indices)
        if prune_head:
            self.head = nn.Identity()
            self.num_classes = 0
        return taken


class AttentionViGClassifier(_TimmClassifier):
    """AttentionViG with its distilled classification head, timm style.

    ``forward_features`` returns the last stage ``(B, C4, H/32, W/32)``;
    ``forward_head(pre_logits=True)`` the head's hidden features
    ``(B, 768)`` (``head_hidden_size``), which is also what
    ``num_classes=0`` returns; ``reset_classifier(0, '')`` leaves the
    unpooled last stage.

    Args:
        arch: AttentionViG arch (``'s'``, ``'m'``, ``'b'`` or a dict).
        num_classes: Classes; 0 for the hidden features.
        in_chans: Input channels.
        drop_rate: Dropout before the linear heads.
        drop_path_rate: Stochastic depth rate.
        global_pool: ``'avg'`` (default) or ``''`` (with ``num_classes=0``:
            no head, the unpooled last stage).
        device: Device to build on (timm's factory argument; ``'meta'``
            too).
        dtype: Floating dtype of the parameters.
        **kwargs: Further :class:`~mmvig.models.attention_vig.AttentionViG`
            arguments.
    """

    head_hidden_size = 768
    classifier_names = ('head.head', 'head.dist_head')
    global_pools = ('avg', '')

    def __init__(self,
                 arch: Union[str, dict] = 's',
                 num_classes: int = 1000,
                 in_chans: int = 3,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 global_pool: Optional[str] = None,
                 device=None,
                 dtype=None,
                 **kwargs) -> None:
        with _on_device(device):
            super().__init__(
                self.backbone_class()(
                    arch,
                    in_channels=in_chans,
                    out_indices=(3, ),
                    drop_path_rate=drop_path_rate,
                    **kwargs), num_classes, in_chans, drop_rate, global_pool)
        if dtype is not None:
            self.to(dtype=dtype)

    @staticmethod
    def backbone_class() -> type:
        """The backbone the classifier wraps."""
        from .attention_vig import AttentionViG
        return AttentionViG

    def levels(self) -> List[Tuple[int, str]]:
        """The four stages."""
        return [(c, f'backbone.stages.{i}')
                for i, c in enumerate(self.backbone.level_channels)]

    def _make_head(self, num_classes: int) -> nn.Module:
        from .heads import DistilledClassifierHead
        return DistilledClassifierHead(
            self.num_features,
            num_classes,
            self.head_hidden_size,
            dropout=self.drop_rate)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.backbone(x)[-1]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Logits; the hidden features with ``pre_logits``; ``x`` itself
        after ``reset_classifier(0, '')`` or a pruning of the head."""
        if self.head_removed:
            return x
        return self.head(x, pre_logits=pre_logits)

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.backbone.with_cp = [enable] * len(self.backbone.stages)
        for stage in self.backbone.stages:
            stage.with_cp = enable

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(
            stem=r'^backbone\.stem',
            blocks=r'^backbone\.stages\.(\d+)'
            if coarse else [(r'^backbone\.stages\.(\d+)\.(\d+)', None)])

    def prune_intermediate_layers(self,
                                  indices: Union[int, Sequence[int]] = 1,
                                  prune_norm: bool = False,
                                  prune_head: bool = True) -> List[int]:
        """Also drops the stages after the deepest level kept (a feature
        extractor then has no unused parameters, which DDP would refuse)."""
        taken = super().prune_intermediate_layers(indices, prune_norm,
                                                  prune_head)
        del self.backbone.stages[max(taken) + 1:]
        self.backbone.out_indices = (max(taken), )
        return taken


class GreedyViGClassifier(AttentionViGClassifier):
    """GreedyViG (the authors' SLDGroup/GreedyViG) with its distilled
    classification head, timm style: :class:`AttentionViGClassifier`'s
    interface over :class:`~mmvig.models.greedy_vig.GreedyViG`. A checkpoint
    of ``tools/model_converters/lineage_to_mmvig.py`` (the authors' ImageNet
    weights) loads with ``checkpoint_path``."""

    @staticmethod
    def backbone_class() -> type:
        from .greedy_vig import GreedyViG
        return GreedyViG


class MobileViGClassifier(AttentionViGClassifier):
    """MobileViG (the authors' SLDGroup/MobileViG) with its distilled
    classification head, timm style: :class:`AttentionViGClassifier`'s
    interface over :class:`~mmvig.models.mobile_vig.MobileViG`, the head 512
    wide for ``ti`` / ``s`` and 768 for ``m`` / ``b``, as the authors'."""

    hidden_by_arch = {'ti': 512, 's': 512, 'm': 768, 'b': 768}

    def __init__(self, arch: Union[str, dict] = 's', **kwargs) -> None:
        self.head_hidden_size = self.hidden_by_arch.get(
            arch.lower(), 768) if isinstance(arch, str) else 768
        super().__init__(arch, **kwargs)

    @staticmethod
    def backbone_class() -> type:
        from .mobile_vig import MobileViG
        return MobileViG


class AdaptViGClassifier(AttentionViGClassifier):
    """AdaptViG (the authors' mmunir127/AdaptViG) with its distilled
    classification head, timm style: :class:`AttentionViGClassifier`'s
    interface over :class:`~mmvig.models.adapt_vig.AdaptViG`."""

    @staticmethod
    def backbone_class() -> type:
        from .adapt_vig import AdaptViG
        return AdaptViG


class _MLPHead(nn.Module):
    """Linear-GELU-Dropout-Linear with the keys of mmpretrain's
    ``StackedLinearClsHead`` (``layers.0.fc``, ``layers.1.fc``)."""

    def __init__(self, dims: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList([
            _LinearBlock(dims, dims, act=True, dropout=dropout),
            _LinearBlock(dims, num_classes)
        ])


class _LinearBlock(nn.Module):
    """Linear (+ GELU) (+ dropout), with mmpretrain's ``LinearBlock`` keys."""

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 act: bool = False,
                 dropout: float = 0.) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features) if out_features \
            else nn.Identity()
        self.act = nn.GELU() if act else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.fc(x)
        if self.act is not None:
            x = self.act(x)
        return x if self.dropout is None else self.dropout(x)


class SAGViTClassifier(_TimmClassifier):
    """SAG-ViT with its MLP head on the class token, timm style.

    The head (Linear-GELU-Dropout-Linear) has the keys of mmpretrain's
    ``StackedLinearClsHead`` in ``configs/sagvit_*_in1k.py``.
    ``forward_features`` returns the class token ``(B, D)``;
    ``forward_head(pre_logits=True)`` the hidden layer's output ``(B, D)``.

    Args:
        arch: SAG-ViT arch (``'small'``, ``'base'`` or a dict).
        num_classes: Classes; 0 for the hidden features.
        in_chans: Input channels.
        drop_rate: Dropout after the MLP head's hidden layer.
        drop_path_rate: Stochastic depth rate.
        global_pool: ``'token'`` (the class token, the only choice).
        device: Device to build on (timm's factory argument; ``'meta'``
            too).
        dtype: Floating dtype of the parameters.
        **kwargs: Further :class:`~mmvig.models.sag_vit.SAGViT` arguments.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'small',
                 num_classes: int = 1000,
                 in_chans: int = 3,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 global_pool: Optional[str] = None,
                 device=None,
                 dtype=None,
                 **kwargs) -> None:
        from timm.layers import register_notrace_module

        from .sag_vit import PatchEmbedding, SAGViT
        from .transformer_layer import TransformerLayer

        # mmcv's and mmpretrain's forwards unpack shapes: leaves for FX.
        register_notrace_module(PatchEmbedding)
        register_notrace_module(TransformerLayer)
        with _on_device(device):
            super().__init__(
                SAGViT(
                    arch,
                    in_channels=in_chans,
                    out_indices=(3, ),
                    out_type='cls_token',
                    drop_path_rate=drop_path_rate,
                    **kwargs), num_classes, in_chans, drop_rate, global_pool)
        if dtype is not None:
            self.to(dtype=dtype)
        self.head_hidden_size = self.num_features
        self.kept_maps = None  # trunk maps kept by a pruning to level 0-2

    classifier_names = ('head.layers.1.fc', )
    global_pools = ('token', )  # the class token; no unpooled form

    def levels(self) -> List[Tuple[int, str]]:
        """The trunk's maps at strides 4, 8, 16 and the token grid (after
        the final norm)."""
        backbone = self.backbone
        return [(c, f'backbone.trunk.layers.{i}') for c, i in zip(
            backbone.trunk_channels, backbone.trunk_out)] + \
            [(backbone.level_channels[-1], 'backbone.norm')]

    def _make_head(self, num_classes: int) -> nn.Module:
        return _MLPHead(self.num_features, num_classes, self.drop_rate)

    def forward_features(self, x: Tensor) -> Tensor:
        """The class token ``(B, D)``; after a pruning to level ``i < 3``,
        that level's trunk map."""
        if self.kept_maps is not None:
            return self.backbone.forward_parts(x, self.kept_maps, False)[0][-1]
        return self.backbone(x)[-1]

    def _levels(self, x: Tensor,
                taken: List[int]) -> Tuple[List[Tensor], Optional[Tensor]]:
        """The trunk's maps at strides 4, 8, 16 and the token grid ``(B, D,
        rows, cols)`` after the final norm; the class token comes with the
        grid."""
        last = max(taken)
        maps, tokens = self.backbone.forward_parts(x,
                                                   min(last, 2) + 1, last == 3)
        levels = maps + ([tokens[1]] if tokens is not None else [])
        final = tokens[0] if tokens is not None and self.kept_maps is None \
            else None
        return [levels[i] for i in taken], final

    def prune_intermediate_layers(self,
                                  indices: Union[int, Sequence[int]] = 1,
                                  prune_norm: bool = False,
                                  prune_head: bool = True) -> List[int]:
        """Also drops what comes after the deepest level kept: below level
        3, the trunk's later layers and the patching, graph attention and
        Transformer (a feature extractor then has no unused parameters)."""
        taken = super().prune_intermediate_layers(indices, prune_norm,
                                                  prune_head)
        if max(taken) < 3:
            self.kept_maps = max(taken) + 1
            self.backbone.truncate(self.kept_maps)
            self.head = nn.Identity()
            self.num_classes = 0
        return taken

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if self.head_removed:
            return x
        x = self.head.layers[0](x)
        return x if pre_logits else self.head.layers[1](x)

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.backbone.with_cp = enable

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(
            stem=r'^backbone\.trunk\.layers\.0\.',
            blocks=[(r'^backbone\.trunk\.layers\.(\d+)', None)],
            graph=r'^backbone\.(?:lateral|patch_embed|gat_blocks)',
            transformer=[(r'^backbone\.(?:pos_embed|cls_token)', (-1, )),
                         (r'^backbone\.layers\.(\d+)', None)],
            norm=r'^backbone\.norm')


def _cfg(**kwargs) -> dict:
    return {
        **dict(
            url='',
            num_classes=1000,
            input_size=(3, 224, 224),
            pool_size=(7, 7),
            interpolation='bicubic',
            mean=IMAGENET_DEFAULT_MEAN,
            std=IMAGENET_DEFAULT_STD),
        **kwargs
    }


# The ImageNet configs' data settings: AttentionViG and its lineage validate
# at crop ratio 0.9 (the authors' GreedyViG recipe), SAG-ViT at mmpretrain's
# 0.875.
default_cfgs = generate_default_cfgs({
    **{
        name:
        _cfg(
            crop_pct=0.9,
            first_conv='backbone.stem.0.conv',
            classifier=('head.head', 'head.dist_head'))
        for name in [f'attentionvig_{a}' for a in 'smb'] + [
            f'greedyvig_{a}' for a in 'smb'
        ] + [f'mobilevig_{a}' for a in ('ti', 's', 'm', 'b')] + [
            f'adaptvig_{a}' for a in 'smb'
        ]
    },
    **{
        f'sagvit_{a}':
        _cfg(
            crop_pct=0.875,
            pool_size=None,
            first_conv='backbone.trunk.layers.0.conv',
            classifier='head.layers.1.fc')
        for a in ('small', 'base')
    },
})


def _create(classifier: type, variant: str, default_arch: str,
            pretrained: bool, **kwargs) -> nn.Module:
    """The variant's arch unless the caller gives one (a dict, say)."""
    kwargs.setdefault('arch', default_arch)
    if pretrained and not (kwargs.get('pretrained_cfg_overlay')
                           or {}).get('file'):
        how = ("convert the authors' weights with tools/model_converters/"
               'lineage_to_mmvig.py') if variant.startswith(
            ('greedyvig', 'mobilevig', 'adaptvig')) \
            else 'train with its configs/*_in1k.py'
        raise ValueError(
            f'mmvig publishes no pretrained {variant} weights for timm to '
            f'download; {how} and pass checkpoint_path=PATH (or '
            'pretrained_cfg_overlay=dict(file=PATH) with pretrained=True) '
            'to timm.create_model')
    return build_model_with_cfg(
        classifier,
        variant,
        pretrained,
        feature_cfg=dict(feature_cls='getter', out_indices=(0, 1, 2, 3)),
        **kwargs)


@register_model
def attentionvig_s(pretrained: bool = False, **kwargs) -> nn.Module:
    """AttentionViG-S (12.3 M params, 1.6 GMACs at 224)."""
    return _create(AttentionViGClassifier, 'attentionvig_s', 's', pretrained,
                   **kwargs)


@register_model
def attentionvig_m(pretrained: bool = False, **kwargs) -> nn.Module:
    """AttentionViG-M (22.2 M params, 3.2 GMACs at 224)."""
    return _create(AttentionViGClassifier, 'attentionvig_m', 'm', pretrained,
                   **kwargs)


@register_model
def attentionvig_b(pretrained: bool = False, **kwargs) -> nn.Module:
    """AttentionViG-B (32.3 M params, 4.8 GMACs at 224)."""
    return _create(AttentionViGClassifier, 'attentionvig_b', 'b', pretrained,
                   **kwargs)


@register_model
def greedyvig_s(pretrained: bool = False, **kwargs) -> nn.Module:
    """GreedyViG-S (12.0 M params, 1.6 GMACs at 224)."""
    return _create(GreedyViGClassifier, 'greedyvig_s', 's', pretrained,
                   **kwargs)


@register_model
def greedyvig_m(pretrained: bool = False, **kwargs) -> nn.Module:
    """GreedyViG-M (21.9 M params, 3.2 GMACs at 224)."""
    return _create(GreedyViGClassifier, 'greedyvig_m', 'm', pretrained,
                   **kwargs)


@register_model
def greedyvig_b(pretrained: bool = False, **kwargs) -> nn.Module:
    """GreedyViG-B (30.9 M params, 5.2 GMACs at 224)."""
    return _create(GreedyViGClassifier, 'greedyvig_b', 'b', pretrained,
                   **kwargs)


@register_model
def mobilevig_ti(pretrained: bool = False, **kwargs) -> nn.Module:
    """MobileViG-Ti (5.3 M params, 0.7 GMACs at 224)."""
    return _create(MobileViGClassifier, 'mobilevig_ti', 'ti', pretrained,
                   **kwargs)


@register_model
def mobilevig_s(pretrained: bool = False, **kwargs) -> nn.Module:
    """MobileViG-S (7.3 M params, 1.0 GMACs at 224)."""
    return _create(MobileViGClassifier, 'mobilevig_s', 's', pretrained,
                   **kwargs)


@register_model
def mobilevig_m(pretrained: bool = False, **kwargs) -> nn.Module:
    """MobileViG-M (14.1 M params, 1.5 GMACs at 224)."""
    return _create(MobileViGClassifier, 'mobilevig_m', 'm', pretrained,
                   **kwargs)


@register_model
def mobilevig_b(pretrained: bool = False, **kwargs) -> nn.Module:
    """MobileViG-B (26.9 M params, 2.8 GMACs at 224)."""
    return _create(MobileViGClassifier, 'mobilevig_b', 'b', pretrained,
                   **kwargs)


@register_model
def adaptvig_s(pretrained: bool = False, **kwargs) -> nn.Module:
    """AdaptViG-S (8.7 M params, 1.1 GMACs at 224)."""
    return _create(AdaptViGClassifier, 'adaptvig_s', 's', pretrained, **kwargs)


@register_model
def adaptvig_m(pretrained: bool = False, **kwargs) -> nn.Module:
    """AdaptViG-M (18.1 M params, 2.9 GMACs at 224)."""
    return _create(AdaptViGClassifier, 'adaptvig_m', 'm', pretrained, **kwargs)


@register_model
def adaptvig_b(pretrained: bool = False, **kwargs) -> nn.Module:
    """AdaptViG-B (27.0 M params, 3.9 GMACs at 224)."""
    return _create(AdaptViGClassifier, 'adaptvig_b', 'b', pretrained, **kwargs)


@register_model
def sagvit_small(pretrained: bool = False, **kwargs) -> nn.Module:
    """SAG-ViT small (EfficientNetV2-B0 trunk, width 256)."""
    return _create(SAGViTClassifier, 'sagvit_small', 'small', pretrained,
                   **kwargs)


@register_model
def sagvit_base(pretrained: bool = False, **kwargs) -> nn.Module:
    """SAG-ViT base (EfficientNetV2-S trunk, width 384)."""
    return _create(SAGViTClassifier, 'sagvit_base', 'base', pretrained,
                   **kwargs)
