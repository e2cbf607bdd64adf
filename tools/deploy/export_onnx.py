"""Export an mmvig model to ONNX, folded, and check it in onnxruntime.

From a config and checkpoint: a classifier config exports the classifier
(logits); a detection or segmentation config exports its backbone (the
feature levels; ``tools/deploy/mmdeploy_onnxruntime.py`` exports the whole
detector or segmentor with mmdeploy). ``--timm NAME``
exports a timm model instead (``--checkpoint`` optional). ``--backbone``
exports the backbone of a classifier.

The model is folded first (``switch_to_deploy``: BatchNorms and layer
scales into the convolutions), and the SVGA cross-attention exports as
standard ONNX ops (opset 17). The SVGA neighbours depend on the feature-map
size, so the export is for the one ``--shape`` given (default 224x224);
the batch size stays dynamic. Unless ``--no-check``, onnxruntime runs the
file on random images and the tool prints the largest relative difference
from PyTorch's outputs.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT [--shape 224 224] \\
        [--out model.onnx] [--backbone]
    python tools/deploy/export_onnx.py --timm attentionvig_s \\
        [--checkpoint epoch_300.pth] [--shape 224 224] [--out model.onnx]
"""
import argparse
import warnings

import torch

import mmvig  # noqa: F401  (registers mmvig's names)
from mmvig.apis import init_model, report_input_errors
from mmvig.deploy import (OPSET, TensorOutput, export_onnx, exportable,
                          onnxruntime_outputs)
from mmvig.errors import InputError


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', help='an mmvig config')
    parser.add_argument('checkpoint', nargs='?', help='its checkpoint')
    parser.add_argument(
        '--timm',
        metavar='NAME',
        help='export timm.create_model(NAME) instead')
    parser.add_argument(
        '--checkpoint',
        dest='timm_checkpoint',
        help='with --timm: checkpoint_path for timm')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=(224, 224),
        metavar=('HEIGHT', 'WIDTH'),
        help='the one input size of the export')
    parser.add_argument(
        '--backbone',
        action='store_true',
        help="export a classifier's backbone (its levels)")
    parser.add_argument('--out', default='model.onnx')
    parser.add_argument('--opset', type=int, default=OPSET)
    parser.add_argument(
        '--no-check',
        action='store_true',
        help='skip the onnxruntime comparison')
    args = parser.parse_args()
    if bool(args.timm) == bool(args.config and args.checkpoint):
        parser.error('give CONFIG CHECKPOINT, or --timm NAME')
    return args


def build(args: argparse.Namespace) -> torch.nn.Module:
    if args.timm:
        import timm
        if not timm.is_model(args.timm):
            ours = timm.list_models('attentionvig_*') + \
                timm.list_models('sagvit_*')
            raise InputError(f'--timm {args.timm!r} is not a timm model; '
                             f"mmvig's are {ours}")
        return timm.create_model(
            args.timm, checkpoint_path=args.timm_checkpoint or '')
    model = init_model(args.config, args.checkpoint)
    is_classifier = hasattr(model, 'head')  # detectors, segmentors: no
    return model.backbone if args.backbone or not is_classifier else model


def main() -> None:
    args = parse_args()
    # The tracer notes every Python-side shape check it sees; the graph is
    # for one input size, which is what the export is.
    warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
    model = exportable(build(args))
    names = export_onnx(model, args.out, tuple(args.shape), opset=args.opset)
    print(f'wrote {args.out}: input images (N, 3, {args.shape[0]}, '
          f'{args.shape[1]}), outputs {", ".join(names)}; opset '
          f'{args.opset}. Height and width are fixed: the SVGA neighbours '
          'depend on the feature-map size (export again for another size).')
    if args.no_check:
        return
    images = torch.randn(2, 3, *args.shape)
    with torch.no_grad():
        expected = TensorOutput(model)(images)
    expected = [expected] if isinstance(expected, torch.Tensor) else \
        list(expected)
    worst = max(
        float((torch.from_numpy(o) - e).abs().max() / e.abs().max())
        for o, e in zip(onnxruntime_outputs(args.out, images), expected))
    print(f'onnxruntime vs PyTorch (batch 2): largest relative difference '
          f'{worst:.2e}')


if __name__ == '__main__':
    with report_input_errors():
        main()
