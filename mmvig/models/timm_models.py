"""timm entry points: ``timm.create_model('attentionvig_s')`` and
``timm.create_model('sagvit_small')`` after ``import mmvig``.

Importing this module needs timm; :mod:`mmvig.registry` only does so when
timm is installed.
"""
from typing import Sequence, Type, Union

from mmpretrain.models.heads import StackedLinearClsHead
from timm.models import register_model
from timm.models._features import FeatureInfo
from torch import Tensor, nn

from .attention_vig import AttentionViG
from .heads import DistilledClassifierHead
from .sag_vit import SAGViT


class _Classifier(nn.Module):
    """A backbone's last level and a head, with timm's classifier interface.

    Subclasses build ``self.backbone`` and define :meth:`_head` and
    :meth:`forward_head`.
    """

    def __init__(self, backbone: nn.Module, num_classes: int,
                 drop_rate: float) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_features = backbone.out_channels[-1]
        self.drop_rate = drop_rate
        self.reset_classifier(num_classes)

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, *args) -> None:
        self.num_classes = num_classes
        self.head = self._head(num_classes) if num_classes > 0 else None

    def forward_features(self, x: Tensor) -> Tensor:
        return self.backbone(x)[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


class AttentionViGClassifier(_Classifier):
    """AttentionViG with its distilled classification head, timm style.

    Keys match the mmpretrain classifier (``backbone.*``, ``head.*``), so a
    checkpoint trained with mmvig's ImageNet configs loads with
    ``timm.create_model(..., checkpoint_path=PATH)``. ``forward_features``
    returns ``(B, C4, H/32, W/32)``.

    Args:
        arch: AttentionViG arch (``'s'``, ``'m'``, ``'b'`` or a dict).
        num_classes: Classes; ``0`` returns pooled features ``(B, C4)``.
        in_chans: Input channels.
        drop_rate: Dropout before the linear heads.
        drop_path_rate: Stochastic depth rate.
        **kwargs: Further :class:`AttentionViG` arguments.
    """

    def __init__(self, arch: Union[str, dict] = 's', num_classes: int = 1000,
                 in_chans: int = 3, drop_rate: float = 0.,
                 drop_path_rate: float = 0., **kwargs) -> None:
        super().__init__(
            AttentionViG(arch, in_channels=in_chans, out_indices=(3, ),
                         drop_path_rate=drop_path_rate, **kwargs),
            num_classes, drop_rate)

    def _head(self, num_classes: int) -> nn.Module:
        return DistilledClassifierHead(self.num_features, num_classes,
                                       dropout=self.drop_rate)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if pre_logits or self.head is None:
            return x.mean((2, 3))
        return self.head(x)


class SAGViTClassifier(_Classifier):
    """SAG-ViT with its MLP head on the class token, timm style.

    Keys match the mmpretrain classifier of ``configs/sagvit_*_in1k.py``
    (``backbone.*``, ``head.*``, the head being mmpretrain's
    ``StackedLinearClsHead``). ``forward_features`` returns the class token
    ``(B, D)``.

    Args:
        arch: SAG-ViT arch (``'small'``, ``'base'`` or a dict).
        num_classes: Classes; ``0`` returns the class token ``(B, D)``.
        in_chans: Input channels.
        drop_rate: Dropout after the MLP head's hidden layer.
        drop_path_rate: Stochastic depth rate.
        **kwargs: Further :class:`SAGViT` arguments.
    """

    def __init__(self, arch: Union[str, dict] = 'small',
                 num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0., drop_path_rate: float = 0.,
                 **kwargs) -> None:
        super().__init__(
            SAGViT(arch, in_channels=in_chans, out_indices=(3, ),
                   out_type='cls_token', drop_path_rate=drop_path_rate,
                   **kwargs),
            num_classes, drop_rate)

    def _head(self, num_classes: int) -> nn.Module:
        return StackedLinearClsHead(
            num_classes, self.num_features, [self.num_features],
            dropout_rate=self.drop_rate, act_cfg=dict(type='GELU'))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if self.head is None:
            return x
        if pre_logits:
            return self.head.pre_logits((x, ))
        return self.head((x, ))


# Arguments timm's factory passes to every entry point; they concern weights
# from the timm hub, which mmvig does not publish.
_TIMM_FACTORY_KEYS = ('pretrained_cfg', 'pretrained_cfg_overlay', 'cache_dir')


def _create(backbone: Type[nn.Module], classifier: Type[nn.Module],
            arch: str, pretrained: bool = False, features_only: bool = False,
            out_indices: Sequence[int] = (0, 1, 2, 3),
            **kwargs) -> nn.Module:
    for key in _TIMM_FACTORY_KEYS:
        kwargs.pop(key, None)
    if pretrained:
        raise ValueError(
            f'mmvig publishes no pretrained {backbone.__name__} weights for '
            'timm to download; train with its configs/*_in1k.py and pass '
            'checkpoint_path=... to timm.create_model instead')
    if not features_only:
        return classifier(arch, **kwargs)
    kwargs.pop('num_classes', None)
    in_chans = kwargs.pop('in_chans', 3)
    model = backbone(arch, in_channels=in_chans, out_indices=out_indices,
                     **kwargs)
    model.feature_info = FeatureInfo(
        [dict(num_chs=channels, reduction=2**(i + 2), module=f'level{i}')
         for i, channels in zip(model.out_indices, model.out_channels)],
        tuple(range(len(model.out_indices))))
    return model


@register_model
def attentionvig_s(pretrained: bool = False, **kwargs) -> nn.Module:
    """AttentionViG-S (12.3 M params, 1.6 GMACs at 224)."""
    return _create(AttentionViG, AttentionViGClassifier, 's', pretrained,
                   **kwargs)


@register_model
def attentionvig_m(pretrained: bool = False, **kwargs) -> nn.Module:
    """AttentionViG-M (22.2 M params, 3.2 GMACs at 224)."""
    return _create(AttentionViG, AttentionViGClassifier, 'm', pretrained,
                   **kwargs)


@register_model
def attentionvig_b(pretrained: bool = False, **kwargs) -> nn.Module:
    """AttentionViG-B (32.3 M params, 4.8 GMACs at 224)."""
    return _create(AttentionViG, AttentionViGClassifier, 'b', pretrained,
                   **kwargs)


@register_model
def sagvit_small(pretrained: bool = False, **kwargs) -> nn.Module:
    """SAG-ViT small (EfficientNetV2-B0 trunk, width 256)."""
    return _create(SAGViT, SAGViTClassifier, 'small', pretrained, **kwargs)


@register_model
def sagvit_base(pretrained: bool = False, **kwargs) -> nn.Module:
    """SAG-ViT base (EfficientNetV2-S trunk, width 384)."""
    return _create(SAGViT, SAGViTClassifier, 'base', pretrained, **kwargs)
