"""Building blocks shared by the mmvig backbones (all tensors
``(B, C, H, W)``)."""
import contextlib
from typing import Callable, Iterator, Optional

import torch
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks import DropPath
from torch import Tensor, nn

from ..seams import BATCH_NORM
from ..typing_utils import ConfigType


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

    ``forward(x, *args, branch_input=y)`` feeds ``y`` to the branch instead of
    ``x`` (the residual stream stays ``x``).

    Args:
        branch: Module mapping ``(B, C, H, W)`` to the same shape.
        channels: Number of channels ``C``.
        drop_path: Stochastic depth rate of the branch.
        layer_scale_init_value: Initial ``gamma``; ``<= 0`` disables it.
    """

    def __init__(self,
                 branch: nn.Module,
                 channels: int,
                 drop_path: float = 0.,
                 layer_scale_init_value: float = 1e-5) -> None:
        super().__init__()
        self.branch = branch
        self.layer_scale = (
            LayerScale2d(channels, layer_scale_init_value)
            if layer_scale_init_value > 0 else nn.Identity())
        self.drop_path = DropPath(
            drop_path) if drop_path > 0 else nn.Identity()

    def forward(self,
                x: Tensor,
                *args,
                branch_input: Optional[Tensor] = None) -> Tensor:
        y = self.branch(x if branch_input is None else branch_input, *args)
        return x + self.drop_path(self.layer_scale(y))


def conv1x1(in_channels: int, out_channels: int, norm_cfg: ConfigType,
            act_cfg: Optional[ConfigType]) -> ConvModule:
    """Pointwise conv + norm (+ activation)."""
    return ConvModule(
        in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)


class Stem(nn.Sequential):
    """Two stride-2 3x3 conv + norm + act:
    ``(B, 3, H, W) -> (B, C, H/4, W/4)``."""

    def __init__(self, in_channels: int, out_channels: int,
                 norm_cfg: ConfigType, act_cfg: ConfigType) -> None:
        super().__init__(
            ConvModule(
                in_channels,
                out_channels // 2,
                3,
                stride=2,
                padding=1,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg),
            ConvModule(
                out_channels // 2,
                out_channels,
                3,
                stride=2,
                padding=1,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg))


def downsample_conv(in_channels: int, out_channels: int,
                    norm_cfg: ConfigType) -> ConvModule:
    """Stride-2 3x3 conv + norm:
    ``(B, C_in, H, W) -> (B, C_out, H/2, W/2)``."""
    return ConvModule(
        in_channels,
        out_channels,
        3,
        stride=2,
        padding=1,
        norm_cfg=norm_cfg,
        act_cfg=None)


class FFN(nn.Sequential):
    """Pointwise MLP: conv1x1 ``C -> rC`` + norm + act, conv1x1 ``rC -> C``
    + norm."""

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
            ConvModule(
                hidden,
                hidden,
                3,
                padding=1,
                groups=hidden,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg), conv1x1(hidden, channels, norm_cfg, None))


class ConvPositionEncoding(nn.Module):
    """Conditional positional encoding ``x + dwconv_kxk(x)`` (with bias),
    ``(B, C, H, W) -> (B, C, H, W)``. :meth:`fold_identity` makes it one
    depthwise conv (for inference)."""

    def __init__(self, channels: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.proj = nn.Conv2d(
            channels,
            channels,
            kernel_size,
            padding=kernel_size // 2,
            groups=channels)
        self.identity_folded = False

    def fold_identity(self) -> None:
        """Add the identity to the kernel's centre tap, in place."""
        if not self.identity_folded:
            centre = self.proj.kernel_size[0] // 2
            with torch.no_grad():
                self.proj.weight[:, 0, centre, centre] += 1
            self.identity_folded = True

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x) if self.identity_folded else x + self.proj(x)


@contextlib.contextmanager
def _running_stats_frozen(module: nn.Module) -> Iterator[None]:
    """BatchNorm layers of ``module`` normalise with batch statistics as usual
    but leave their running statistics and batch count unchanged."""
    norms = [
        m for m in module.modules() if isinstance(m, BATCH_NORM) and m.training
    ]
    state = [(m.momentum, None if m.num_batches_tracked is None else
              m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.
    try:
        yield
    finally:
        for m, (momentum, count) in zip(norms, state):
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)


def checkpointed(module: nn.Module,
                 x: Tensor,
                 *args,
                 forward: Optional[Callable[..., Tensor]] = None) -> Tensor:
    """``forward(x, *args)`` (default: ``module``) keeping only the inputs for
    the backward pass, which runs it again. Unlike plain activation
    checkpointing, the BatchNorm layers of ``module`` update their running
    statistics once, in the first forward."""
    return cp.checkpoint(
        forward or module,
        x,
        *args,
        use_reentrant=False,
        context_fn=lambda:
        (contextlib.nullcontext(), _running_stats_frozen(module)))
