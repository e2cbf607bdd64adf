"""Inference deployment: folded models, and ONNX export checked in
onnxruntime.

The SVGA cross-attention exports in standard ONNX ops (opset 17), so any
ONNX runtime (onnxruntime, TensorRT's parser) reads the graph: where the
SVGA stride divides a feature-map side, a node's neighbours along that axis
are its residue class, and the axis is ``MatMul`` / ``Exp`` / ``MatMul``
over those sequences (dense attention without the diagonal); other axes are
their circular shifts (slices, products, sums). Which axes are which, and
the shifts, depend on the feature-map sizes, so an export is for the one
input size it was traced at: height and width are static.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .errors import InputError
from .models.fold import switch_to_deploy

OPSET = 17


class TensorOutput(nn.Module):
    """A classifier (``mode='tensor'``: logits) or a backbone (its levels)
    as a plain ``forward(images)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.classifier = hasattr(model, 'extract_feat') and \
            hasattr(model, 'head')

    def forward(self, images: Tensor):
        if self.classifier:
            return self.model(images, mode='tensor')
        return self.model(images)


def use_standard_ops(model: nn.Module) -> nn.Module:
    """Every SVGA aggregation of ``model`` on standard operators (what ONNX
    can express, :func:`mmvig.ops.svga_attention.standard_cross_attention`),
    in place; returns it."""
    from .models.attention_vig import CrossAttentionAggregation
    for module in model.modules():
        if isinstance(module, CrossAttentionAggregation):
            module.impl = 'standard'
    return model


def exportable(model: nn.Module) -> nn.Module:
    """``model`` folded and on standard ops, in place; returns it."""
    return use_standard_ops(switch_to_deploy(model))


def export_onnx(model: nn.Module,
                path: str,
                shape: Tuple[int, int],
                batch: int = 1,
                opset: int = OPSET) -> Tuple[str, ...]:
    """Export ``model`` (a classifier or a backbone) at one input size.

    Returns:
        tuple: the output names (``logits``, or ``level0``...).
    """
    height, width = shape
    if min(height, width) < 1:
        raise InputError(f'input size {height}x{width} is empty')
    wrapped = TensorOutput(model).eval()
    example = torch.randn(batch, 3, height, width)
    with torch.no_grad():
        outputs = wrapped(example)
    names = ('logits', ) if isinstance(outputs, Tensor) else tuple(
        f'level{i}' for i in range(len(outputs)))
    torch.onnx.export(
        wrapped, (example, ),
        path,
        opset_version=opset,
        input_names=['images'],
        output_names=list(names),
        dynamic_axes={
            'images': {
                0: 'batch'
            },
            **{
                n: {
                    0: 'batch'
                }
                for n in names
            }
        },
        dynamo=False)
    return names


def onnxruntime_session(path: str):
    """An onnxruntime session (CPU provider) of an exported model."""
    import onnxruntime
    return onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])


def onnxruntime_outputs(path: str,
                        images: Tensor,
                        names: Optional[Sequence[str]] = None):
    """Run an exported model in onnxruntime on ``images``."""
    return onnxruntime_session(path).run(names, {'images': images.numpy()})
