"""Deploy a whole detector or segmentor to onnxruntime with mmdeploy, and
check it against PyTorch.

Runs mmdeploy's own pipeline (``mmdeploy.apis.torch2onnx``: its model
rewriters, its ONNX post-processing, its onnxruntime custom ops) on an mmvig
config, then runs the ONNX file through mmdeploy's onnxruntime wrapper and
the PyTorch model on the same image and prints how far apart they are
(boxes, labels, scores and masks of a detector; the class map of a
segmentor).

    python tools/deploy/mmdeploy_onnxruntime.py DEPLOY_CFG MODEL_CFG \\
        CHECKPOINT IMAGE [--work-dir work_dirs/deploy] [--shape HEIGHT WIDTH]

``DEPLOY_CFG`` is one of ``configs/deploy/`` (static shapes: the SVGA graph
fixes the feature-map sizes, so an export is for one input size).
mmdeploy 1.3.1 predates torch 2.13; this tool applies, in its own process
only (nothing changes on ``import mmvig``), what mmdeploy needs on it:

- ``torch.onnx.export`` gets ``dynamo=False``: torch 2.13 defaults to the
  dynamo exporter, which mmdeploy's rewriters (TorchScript symbolics) do not
  work with.
- ``torch.onnx.symbolic_opset9._cast_Long``, which torch 2.13 removed and
  mmdeploy's RoIAlign symbolic imports, is provided (a ``Cast`` to int64).
- mmdeploy runs here in this process: its ``tools/deploy.py`` spawns a
  process per step, in which patches made by a wrapper would be lost.
"""
import argparse
import functools
import inspect
import os.path as osp
from typing import Dict, List

import torch

import mmvig  # noqa: F401  (registers mmvig's names)
from mmvig.apis import report_input_errors
from mmvig.errors import InputError
from mmvig.safe_load import checked_checkpoint_loaders


def patch_for_torch() -> None:
    """The two torch 2.13 fixes mmdeploy 1.3.1 needs (see the module
    docstring); for this process only."""
    export = torch.onnx.export
    if 'dynamo' in inspect.signature(export).parameters and \
            not getattr(export, 'mmvig_patched', False):

        @functools.wraps(export)
        def torchscript_export(*args, **kwargs):
            kwargs.setdefault('dynamo', False)
            return export(*args, **kwargs)

        torchscript_export.mmvig_patched = True
        torch.onnx.export = torchscript_export

    from torch.onnx import symbolic_opset9
    if not hasattr(symbolic_opset9, '_cast_Long'):

        def _cast_Long(g, input, non_blocking):  # noqa: N802 (torch's name)
            return g.op(
                'Cast', input, to_i=torch.onnx.TensorProtoDataType.INT64)

        symbolic_opset9._cast_Long = _cast_Long


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'deploy_cfg', help='an mmdeploy config '
        '(configs/deploy/)')
    parser.add_argument(
        'model_cfg', help='an mmvig detection or '
        'segmentation config')
    parser.add_argument('checkpoint', help='its checkpoint')
    parser.add_argument('image', help='an image to export with and check on')
    parser.add_argument('--work-dir', default='work_dirs/deploy')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('HEIGHT', 'WIDTH'),
        help="the export's input size instead of the deploy "
        "config's")
    parser.add_argument(
        '--device',
        default='cpu',
        help='device of the PyTorch model (the export runs '
        'on the CPU)')
    parser.add_argument(
        '--no-check',
        action='store_true',
        help='skip the onnxruntime comparison')
    return parser.parse_args()


def load_configs(args: argparse.Namespace):
    try:
        from mmdeploy.utils import get_input_shape, load_config
    except ImportError:
        raise InputError(
            'mmdeploy is not installed; install it with: uv pip install '
            'mmdeploy==1.3.1 --override requirements/mmdeploy-overrides.txt '
            '(or pip install mmdeploy==1.3.1 --no-deps && pip install aenum '
            'grpcio multiprocess prettytable terminaltables)') from None
    for path in (args.deploy_cfg, args.model_cfg, args.checkpoint, args.image):
        if not osp.isfile(path):
            raise InputError(f'{path} does not exist')
    deploy_cfg, model_cfg = load_config(args.deploy_cfg, args.model_cfg)
    if args.shape:
        deploy_cfg.onnx_config.input_shape = [args.shape[1], args.shape[0]]
    if get_input_shape(deploy_cfg) is None:
        raise InputError(
            f'{args.deploy_cfg} has no onnx_config.input_shape: the SVGA '
            'graph fixes the feature-map sizes, so an export needs one input '
            'size (give --shape HEIGHT WIDTH or use a static config)')
    return deploy_cfg, model_cfg


def detection_difference(expected, actual) -> Dict[str, float]:
    """Boxes, scores, labels and masks of two ``DetDataSample``s: each
    PyTorch detection is paired with the onnxruntime detection of the same
    label that overlaps it most (near-equal scores may come in another
    order)."""
    from mmdet.structures.bbox import bbox_overlaps
    a, b = expected.pred_instances.cpu(), actual.pred_instances.cpu()
    if len(a) != len(b):
        raise AssertionError(f'{len(a)} PyTorch detections, {len(b)} '
                             'onnxruntime detections')
    out = dict(detections=float(len(a)))
    if not len(a):
        return out
    overlaps = bbox_overlaps(a.bboxes, b.bboxes.float())
    overlaps[a.labels[:, None] != b.labels[None].to(a.labels)] = -1
    pair = overlaps.argmax(1)
    b = b[pair]
    out['box_max_abs'] = float((a.bboxes - b.bboxes).abs().max())
    out['box_rel'] = out['box_max_abs'] / max(
        float(a.bboxes.abs().max()), 1e-6)
    out['score_max_abs'] = float((a.scores - b.scores).abs().max())
    out['labels_equal'] = float((a.labels == b.labels).float().mean())
    if 'masks' in a and 'masks' in b:
        ma, mb = a.masks.bool(), b.masks.bool()
        inter = (ma & mb).flatten(1).sum(1).float()
        union = (ma | mb).flatten(1).sum(1).float().clamp(min=1)
        out['mask_iou_min'] = float((inter / union).min())
        out['mask_iou_mean'] = float((inter / union).mean())
    return out


def segmentation_difference(expected, actual) -> Dict[str, float]:
    """Share of pixels whose class agrees, of two ``SegDataSample``s."""
    a = expected.pred_sem_seg.data
    b = actual.pred_sem_seg.data.to(a.device)
    return dict(pixels_equal=float((a == b).float().mean()))


def compare(task_processor, onnx_files: List[str], checkpoint: str, image: str,
            input_shape) -> Dict[str, float]:
    """Run the PyTorch model and the onnxruntime model on ``image``."""
    torch_model = task_processor.build_pytorch_model(checkpoint)
    data, _ = task_processor.create_input(image, input_shape)
    backend_model = task_processor.build_backend_model(
        onnx_files, task_processor.update_data_preprocessor)
    with torch.no_grad():
        expected = torch_model.test_step(data)[0]
        actual = backend_model.test_step(data)[0]
    if hasattr(expected, 'pred_instances'):
        return detection_difference(expected, actual)
    return segmentation_difference(expected, actual)


def main() -> None:
    args = parse_args()
    deploy_cfg, model_cfg = load_configs(args)
    patch_for_torch()
    from mmdeploy.apis import build_task_processor, torch2onnx
    from mmdeploy.utils import get_input_shape, get_ir_config

    save_file = get_ir_config(deploy_cfg)['save_file']
    torch2onnx(
        args.image,
        args.work_dir,
        save_file,
        deploy_cfg,
        model_cfg,
        args.checkpoint,
        device='cpu')
    onnx_file = osp.join(args.work_dir, save_file)
    width, height = get_input_shape(deploy_cfg)
    print(f'wrote {onnx_file}: input (1, 3, {height}, {width}), static')
    if args.no_check:
        return
    task_processor = build_task_processor(model_cfg, deploy_cfg, args.device)
    diff = compare(task_processor, [onnx_file], args.checkpoint, args.image,
                   get_input_shape(deploy_cfg))
    print('onnxruntime vs PyTorch: ' + ', '.join(f'{k} {v:.3g}'
                                                 for k, v in diff.items()))


if __name__ == '__main__':
    # mmdeploy loads the checkpoint with mmengine's loader: mmvig's reads it
    with report_input_errors(), checked_checkpoint_loaders():
        main()
