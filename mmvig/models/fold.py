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
from torch.nn.modules.batchnorm import _BatchNorm


def fold_batchnorm(conv: nn.Conv2d, norm: _BatchNorm) -> None:
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
                isinstance(module.norm, _BatchNorm) and \
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


def fold_batchnorm_after_conv(model: nn.Module, example: torch.Tensor) -> int:
    """Fold every BatchNorm that reads a ``Conv2d``'s output into that conv
    and replace it by an identity (for models without their own
    ``switch_to_deploy``: ResNet-50, PyramidVig). The pairs are found by
    running ``example``; a pair is kept folded only if the model's outputs
    on ``example`` stay the same (a conv output that something else reads
    too cannot fold: PyramidVig's graph layers). Returns how many folded."""
    produced, pairs, hooks = {}, [], []
    keep = []  # outputs stay alive, so their ids stay unique

    def conv_hook(module, args, output):
        keep.append(output)
        produced[id(output)] = module

    def norm_hook(module, args):
        conv = produced.get(id(args[0]))
        if conv is not None and all(norm is not module for _, norm in pairs):
            pairs.append((conv, module))

    def outputs():
        with torch.no_grad():
            out = model(example)
        return torch.cat([o.flatten() for o in (
            out if isinstance(out, (tuple, list)) else [out])])

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, _BatchNorm):
            hooks.append(module.register_forward_pre_hook(norm_hook))
    model.eval()  # some backbones' train() return None
    expected = outputs()
    for hook in hooks:
        hook.remove()
    keep.clear()
    parents = {id(child): (parent, name)
               for parent in model.modules()
               for name, child in parent.named_children()}
    folded = 0
    for conv, norm in pairs:
        parent, name = parents[id(norm)]
        weight = conv.weight.detach().clone()
        bias = None if conv.bias is None else conv.bias.detach().clone()
        fold_batchnorm(conv, norm)
        setattr(parent, name, nn.Identity())
        if float((outputs() - expected).abs().max() /
                 expected.abs().max()) <= 1e-5:
            folded += 1
            continue
        with torch.no_grad():  # something else reads this conv's output
            conv.weight.copy_(weight)
        conv.bias = None if bias is None else nn.Parameter(bias)
        setattr(parent, name, norm)
    return folded


def switch_to_deploy(model: nn.Module) -> nn.Module:
    """Fold ``model`` for inference, in place, in either mode: its own
    ``switch_to_deploy``, or else its backbone's, neck's and head's (a
    detector or segmentor folds its mmvig backbone); returns it."""
    parts = [model] if hasattr(model, 'switch_to_deploy') else [
        getattr(model, name, None) for name in ('backbone', 'neck', 'head')]
    for part in parts:
        if hasattr(part, 'switch_to_deploy'):
            part.switch_to_deploy()
    return model
