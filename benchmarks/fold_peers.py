"""BatchNorm folding for the peer models the benchmarks run beside mmvig's
(ResNet-50, PyramidVig, ...), which have no ``switch_to_deploy`` of their
own: the ``folded`` mode of ``benchmarks/throughput.py``."""
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmvig.models.fold import fold_batchnorm


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
        return torch.cat([
            o.flatten()
            for o in (out if isinstance(out, (tuple, list)) else [out])
        ])

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
    parents = {
        id(child): (parent, name)
        for parent in model.modules()
        for name, child in parent.named_children()
    }
    folded = 0
    for conv, norm in pairs:
        parent, name = parents[id(norm)]
        weight = conv.weight.detach().clone()
        bias = None if conv.bias is None else conv.bias.detach().clone()
        fold_batchnorm(conv, norm)
        setattr(parent, name, nn.Identity())
        change = (outputs() - expected).abs().max() / expected.abs().max()
        if float(change) <= 1e-5:
            folded += 1
            continue
        with torch.no_grad():  # something else reads this conv's output
            conv.weight.copy_(weight)
        conv.bias = None if bias is None else nn.Parameter(bias)
        setattr(parent, name, norm)
    return folded
