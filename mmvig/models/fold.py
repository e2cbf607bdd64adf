"""Exact folding for inference (mmpretrain's ``switch_to_deploy``).

In eval mode a BatchNorm after a convolution is an affine map per channel,
and so is a layer scale after a branch that ends in a convolution: both go
into that convolution's weight and bias. A conditional positional encoding
``x + dwconv(x)`` is one depthwise convolution with 1 added at the centre
of every kernel. What cannot fold stays: a layer scale after an activation
(the Grapher's aggregation branch ends in GELU), LayerNorms. Folding uses
the running statistics whatever the mode (as mmpretrain's RepVGG and
MobileOne do; mmdeploy folds before it calls ``eval()``): the folded model
computes what the model computes in eval mode.
"""
from typing import Optional

import torch
from mmcv.cnn import ConvModule
from torch import nn

from ..seams import BATCH_NORM


def fold_batchnorm(conv: nn.Conv2d, norm: BATCH_NORM) -> None:
    """``norm(conv(x))`` (``norm`` in eval mode) into ``conv``, in place."""
    scale = (norm.running_var + norm.eps).rsqrt()
    if norm.affine:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.affine:
        shift = shift + norm.bias
    with torch.no_grad():
        bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
        conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
        conv.bias = nn.Parameter(bias * scale + shift)


def scale_conv(conv: nn.Conv2d, scale: torch.Tensor) -> None:
    """``scale[c] * conv(x)[c]`` into ``conv``, in place."""
    with torch.no_grad():
        conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
        if conv.bias is not None:
            conv.bias.mul_(scale.reshape(-1))


def fold_conv_modules(model: nn.Module) -> int:
    """Fold the BatchNorm of every mmcv ``ConvModule`` (conv, then norm)
    into its conv; returns how many."""
    folded = 0
    for module in model.modules():
        if isinstance(module, ConvModule) and module.with_norm and \
                isinstance(module.norm, BATCH_NORM) and \
                module.order.index('conv') < module.order.index('norm'):
            fold_batchnorm(module.conv, module.norm)
            delattr(module, module.norm_name)
            module.norm_name, module.with_norm = None, False
            folded += 1
    return folded


def last_conv(branch: nn.Module) -> Optional[nn.Conv2d]:
    """The branch's final conv when nothing but a folded norm follows it
    (an inverted residual or FFN branch), else ``None``."""
    last = list(branch.children())[-1] if len(list(branch.children())) \
        else None
    if isinstance(last, ConvModule) and not last.with_norm and \
            not last.with_activation:
        return last.conv
    return None


def fold_parts(model: nn.Module) -> None:
    """Fold, in place, each of ``model``'s ``backbone``, ``neck`` and
    ``head`` that has a ``switch_to_deploy``."""
    for name in ('backbone', 'neck', 'head'):
        part = getattr(model, name, None)
        if hasattr(part, 'switch_to_deploy'):
            part.switch_to_deploy()


def switch_to_deploy(model: nn.Module) -> nn.Module:
    """Fold ``model`` for inference, in place, in either mode: its own
    ``switch_to_deploy``, or else its backbone's, neck's and head's (a
    detector or segmentor folds its mmvig backbone); returns it."""
    if hasattr(model, 'switch_to_deploy'):
        model.switch_to_deploy()
    else:
        fold_parts(model)
    return model
