"""Classification heads with a distillation token head (DeiT style).

The layers live on the head module itself (``fc``, ``dropout``, ``head``,
``dist_head``), so the mmpretrain head and the timm model share checkpoint
keys.
"""
from typing import Tuple

from torch import Tensor, fx, nn

from ..errors import InputError
from ..seams import BATCH_NORM
from ..typing_utils import ConfigType
from .fold import fold_conv_modules
from .layers import conv1x1


def init_distilled_head(module: nn.Module, in_channels: int, num_classes: int,
                        hidden_channels: int, dropout: float,
                        norm_cfg: ConfigType, act_cfg: ConfigType) -> None:
    """Add the head layers to ``module``.

    Global average pool, conv1x1 ``C -> hidden`` + norm + act, dropout, then
    two linear heads ``hidden -> num_classes``: ``head`` and ``dist_head``
    (identities for ``num_classes=0``: the head then returns the hidden
    features).
    """
    if num_classes < 0:
        raise InputError(f'num_classes must be >= 0, got {num_classes}')
    module.fc = conv1x1(in_channels, hidden_channels, norm_cfg, act_cfg)
    module.dropout = nn.Dropout(dropout)
    module.head = nn.Linear(hidden_channels, num_classes) if num_classes \
        else nn.Identity()
    module.dist_head = nn.Linear(hidden_channels, num_classes) \
        if num_classes else nn.Identity()


def _hidden_layer(fc: nn.Module, pooled: Tensor) -> Tensor:
    """The hidden conv + norm + act on ``(B, C, 1, 1)``. A training batch of
    one sample (the last batch of a data set one longer than a multiple of
    the batch size, or a rank's last batch) has no batch statistics: its
    BatchNorm normalises with the running statistics and leaves them as
    they are."""
    norms = [
        m for m in fc.modules() if isinstance(m, BATCH_NORM) and m.training
    ]
    # (an FX trace, whose input is a Proxy, records it for any batch size)
    if not norms or isinstance(pooled, fx.Proxy) or pooled.shape[0] > 1:
        return fc(pooled)
    for norm in norms:
        norm.train(False)
    try:
        return fc(pooled)
    finally:
        for norm in norms:
            norm.train(True)


def hidden_features(module: nn.Module, x: Tensor) -> Tensor:
    """``(B, C, H, W)`` -> pooled hidden features ``(B, hidden)``."""
    pooled = x.mean((2, 3), keepdim=True)
    return module.dropout(_hidden_layer(module.fc, pooled).flatten(1))


def distilled_logits(module: nn.Module, x: Tensor) -> Tuple[Tensor, Tensor]:
    """``(B, C, H, W)`` -> logits of ``head`` and ``dist_head``, ``(B, K)``
    each."""
    x = hidden_features(module, x)
    return module.head(x), module.dist_head(x)


class DistilledClassifierHead(nn.Module):
    """Plain PyTorch head (used by the timm models); returns the mean logits.

    Args:
        in_channels: Channels of the last stage.
        num_classes: Classes.
        hidden_channels: Width of the hidden layer.
        dropout: Dropout before the linear heads.
        norm_cfg: Norm layer config.
        act_cfg: Activation config.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        hidden_channels: int = 768,
        dropout: float = 0.,
        norm_cfg: ConfigType = dict(type='BN'),
        act_cfg: ConfigType = dict(type='GELU')
    ) -> None:
        super().__init__()
        init_distilled_head(self, in_channels, num_classes, hidden_channels,
                            dropout, norm_cfg, act_cfg)

    def switch_to_deploy(self) -> None:
        """Fold the hidden layer's BatchNorm (running statistics) into its
        conv, in either mode."""
        fold_conv_modules(self)

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, C, H, W)`` -> mean logits ``(B, K)``, or the hidden features
        ``(B, hidden)`` with ``pre_logits`` or without classes."""
        if pre_logits:
            return hidden_features(self, x)
        cls_logits, dist_logits = distilled_logits(self, x)
        return (cls_logits + dist_logits) / 2
