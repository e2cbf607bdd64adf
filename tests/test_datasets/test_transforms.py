"""mmvig.datasets.transforms.AlignResize: the ADE20K test resize of the
lineage's Semantic FPN results (keep-ratio resize, then each side stretched
to a multiple of the divisor)."""
import mmcv
import numpy as np
import pytest
from mmengine.registry import DefaultScope

import mmvig  # noqa: F401


@pytest.mark.parametrize(
    'height, width, expected',
    [
        (375, 500, (512, 704)),  # 683 wide after the keep-ratio resize
        (512, 683, (512, 704)),
        (300, 2400, (256, 2048)),  # bounded by the long side: 2048 x 256
        (64, 64, (512, 512)),
    ])
def test_align_resize(height, width, expected):
    from mmseg.registry import TRANSFORMS
    with DefaultScope.overwrite_default_scope('mmseg'):
        resize = TRANSFORMS.build(
            dict(type='AlignResize', scale=(2048, 512), size_divisor=32))
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    labels = rng.integers(0, 150, (height, width), dtype=np.uint8)
    out = resize(dict(img=image.copy(), gt_seg_map=labels.copy()))
    assert out['img_shape'] == expected == out['img'].shape[:2]
    assert out['gt_seg_map'].shape == expected
    assert set(np.unique(out['gt_seg_map'])) <= set(np.unique(labels))
    # the authors' two steps, with mmcv's own functions
    rescaled = mmcv.imrescale(image, (2048, 512))
    want = mmcv.imresize(rescaled, expected[::-1])
    assert np.array_equal(out['img'], want)
    scale_w, scale_h = out['scale_factor']
    assert scale_w * width == pytest.approx(expected[1])
    assert scale_h * height == pytest.approx(expected[0])


def test_the_lineage_ade20k_configs_evaluate_with_it():
    from mmvig.apis import read_config
    cfg = read_config('configs/greedyvig/fpn_greedyvig_b_ade20k.py')
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        types = [t['type'] for t in loader.dataset.pipeline]
        assert types == [
            'LoadImageFromFile', 'AlignResize', 'LoadAnnotations',
            'PackSegInputs'
        ]
