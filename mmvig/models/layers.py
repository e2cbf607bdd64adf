"""Building blocks shared by the mmvig backbones (all tensors ``(B, C, H, W)``)."""
from typing import Optional

import torch
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks import DropPath
from torch import Tensor, nn

from ..utils import ConfigType


class LayerScale2d(nn.Module):
    """Per-channel learnable scale ``gamma`` of a residual branch.

    Args:
        channels: Number of channels ``C``.
        init_value: Initial value of every ``gamma``.
    """

    def __init__(self, channels: int, init_value: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels, 1, 1), init_value))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.weight


class Residual(nn.Module):
    """``x + drop_path(gamma * branch(x, *args))``.

    Args:
        branch: Module mapping ``(B, C, H, W)`` to the same shape.
        channels: Number of channels ``C``.
        drop_path: Stochastic depth rate of the branch.
        layer_scale_init_value: Initial ``gamma``; ``<= 0`` disables it.
    """

    def __init__(self, branch: nn.Module, channels: int, drop_path: float = 0.,
                 layer_scale_init_value: float = 1e-5) -> None:
        super().__init__()
        self.branch = branch
        self.layer_scale = (
            LayerScale2d(channels, layer_scale_init_value)
            if layer_scale_init_value > 0 else nn.Identity())
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor, *args) -> Tensor:
        return x + self.drop_path(self.layer_scale(self.branch(x, *args)))


def conv1x1(in_channels: int, out_channels: int, norm_cfg: ConfigType,
            act_cfg: Optional[ConfigType]) -> ConvModule:
    """Pointwise conv + norm (+ activation)."""
    return ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg,
                      act_cfg=act_cfg)


class Stem(nn.Sequential):
    """Two stride-2 3x3 conv + norm + act: ``(B, 3, H, W) -> (B, C, H/4, W/4)``."""

    def __init__(self, in_channels: int, out_channels: int,
                 norm_cfg: ConfigType, act_cfg: ConfigType) -> None:
        super().__init__(
            ConvModule(in_channels, out_channels // 2, 3, stride=2, padding=1,
                       norm_cfg=norm_cfg, act_cfg=act_cfg),
            ConvModule(out_channels // 2, out_channels, 3, stride=2, padding=1,
                       norm_cfg=norm_cfg, act_cfg=act_cfg))


def downsample_conv(in_channels: int, out_channels: int,
               norm_cfg: ConfigType) -> ConvModule:
    """Stride-2 3x3 conv + norm: ``(B, C_in, H, W) -> (B, C_out, H/2, W/2)``."""
    return ConvModule(in_channels, out_channels, 3, stride=2, padding=1,
                      norm_cfg=norm_cfg, act_cfg=None)


class FFN(nn.Sequential):
    """Pointwise MLP: conv1x1 ``C -> rC`` + norm + act, conv1x1 ``rC -> C`` + norm."""

    def __init__(self, channels: int, ratio: int, norm_cfg: ConfigType,
                 act_cfg: ConfigType) -> None:
        super().__init__(
            conv1x1(channels, channels * ratio, norm_cfg, act_cfg),
            conv1x1(channels * ratio, channels, norm_cfg, None))


class InvertedResidualBranch(nn.Sequential):
    """MobileNetV2 inverted residual branch with expansion ``r``.

    conv1x1 ``C -> rC`` + norm + act, depthwise 3x3 + norm + act,
    conv1x1 ``rC -> C`` + norm. Shape-preserving.
    """

    def __init__(self, channels: int, ratio: int, norm_cfg: ConfigType,
                 act_cfg: ConfigType) -> None:
        hidden = channels * ratio
        super().__init__(
            conv1x1(channels, hidden, norm_cfg, act_cfg),
            ConvModule(hidden, hidden, 3, padding=1, groups=hidden,
                       norm_cfg=norm_cfg, act_cfg=act_cfg),
            conv1x1(hidden, channels, norm_cfg, None))


class ConvPositionEncoding(nn.Module):
    """Conditional positional encoding ``x + dwconv_kxk(x)`` (with bias)."""

    def __init__(self, channels: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, channels, kernel_size,
                              padding=kernel_size // 2, groups=channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.proj(x)
