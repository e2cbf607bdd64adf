"""tools/deploy/mmdeploy_onnxruntime.py: whole detectors and segmentors
through mmdeploy to ONNX Runtime agree with PyTorch."""
import importlib

import pytest
import torch
from mmengine.registry import DefaultScope

from mmvig.apis import read_config
from mmvig.testing import run_tool


def _demo_checkpoint_and_image(config: str, scope: str, directory) -> tuple:
    """A seeded, untrained model of a demo config saved as a checkpoint, and
    one generated 192x160 scene."""
    import numpy as np

    from mmvig.datasets.synthetic import (background_colors, random_scene,
                                          render_scene)
    cfg = read_config(config)
    cfg.model.backbone.init_cfg = None
    registry = importlib.import_module(f'{scope}.registry')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.MODELS.build(cfg.model)
    model.init_weights()
    checkpoint = str(directory / 'model.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    rng = np.random.RandomState(0)
    background = background_colors(rng)
    image = str(directory / 'scene.png')
    render_scene(
        random_scene(rng, (192, 160), 3, background), (192, 160), rng,
        background).save(image)
    return checkpoint, image


@pytest.mark.slow
@pytest.mark.parametrize('config, scope, deploy_cfg', [
    ('mask_rcnn_attentionvig_s_scenes', 'mmdet',
     'instance-seg_onnxruntime_static-800x1344'),
    ('fpn_attentionvig_s_scenes', 'mmseg',
     'segmentation_onnxruntime_static-512x512'),
    ('mask_rcnn_sagvit_small_scenes', 'mmdet',
     'instance-seg_onnxruntime_static-800x1344'),
    ('fpn_sagvit_small_scenes', 'mmseg',
     'segmentation_onnxruntime_static-512x512'),
])
def test_whole_model_deploys_through_mmdeploy(config, scope, deploy_cfg,
                                              tmp_path):
    """tools/deploy/mmdeploy_onnxruntime.py: mmdeploy's pipeline exports the
    whole demo detector / segmentor (no config change), mmdeploy's
    onnxruntime wrapper runs it, and its results match PyTorch's. An
    untrained detector's boxes differ by a fraction of a pixel (mmdeploy's
    own box decoding: mmdet's Mask R-CNN R-50 differs as much, README)."""
    pytest.importorskip(
        'mmdeploy',
        reason='mmdeploy is not installed (the upstream stack installs '
        'mmdeploy 1.3.1; onedl-mmdeploy 1.5.2 has no distribution for this '
        'Python on the package registry)')
    checkpoint, image = _demo_checkpoint_and_image(f'configs/demo/{config}.py',
                                                   scope, tmp_path)
    output = run_tool(
        'tools/deploy/mmdeploy_onnxruntime.py',
        f'configs/deploy/{deploy_cfg}.py',
        f'configs/demo/{config}.py',
        checkpoint,
        image,
        '--shape',
        '160',
        '192',
        '--work-dir',
        tmp_path / 'work',
        timeout=None)
    line = output.strip().splitlines()[-1]
    print(line)
    assert line.startswith('onnxruntime vs PyTorch: ')
    diff = dict(
        item.rsplit(' ', 1)
        for item in line[len('onnxruntime vs PyTorch: '):].split(', '))
    diff = {k: float(v) for k, v in diff.items()}
    assert (tmp_path / 'work' / 'end2end.onnx').exists()
    if scope == 'mmseg':
        assert diff['pixels_equal'] == 1.0
        return
    assert diff['detections'] > 0
    assert diff['labels_equal'] == 1.0
    assert diff['score_max_abs'] < 1e-4
    assert diff['box_rel'] < 5e-3
    assert diff['mask_iou_mean'] > 0.95
