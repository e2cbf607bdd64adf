"""mmvig.datasets.synthetic and tools/misc/make_synthetic_data.py: the
generated data sets are deterministic and their shapes visible."""
import os.path as osp

import pytest

import mmvig  # noqa: F401
from mmvig.datasets import make_classification_set


def test_generator_is_deterministic(tmp_path):
    a, b, c = (str(tmp_path / n) for n in 'abc')
    make_classification_set(a, 2, 1, image_size=72, seed=3)
    make_classification_set(b, 2, 1, image_size=72, seed=3)
    make_classification_set(c, 2, 1, image_size=72, seed=4)
    name = osp.join('train', 'star', '00001.png')
    with open(osp.join(a, name), 'rb') as fa, open(osp.join(b, name),
                                                   'rb') as fb:
        assert fa.read() == fb.read()
    with open(osp.join(a, name), 'rb') as fa, open(osp.join(c, name),
                                                   'rb') as fc:
        assert fa.read() != fc.read()


def test_shapes_stand_out_from_their_background():
    import numpy as np

    from mmvig.datasets.synthetic import background_colors, contrasting_color
    rng = np.random.RandomState(0)
    for _ in range(50):
        background = background_colors(rng)
        color = contrasting_color(rng, background)
        assert all(
            np.linalg.norm(np.subtract(color, b)) >= 120 for b in background)


@pytest.mark.long
def test_command_line_writes_both_layouts(tmp_path):
    import json

    from mmvig.testing import run_tool
    shapes, scenes = str(tmp_path / 'shapes'), str(tmp_path / 'scenes')
    out = run_tool(
        'tools/misc/make_synthetic_data.py',
        'classification',
        shapes,
        '--train-per-class',
        '2',
        '--val-per-class',
        '1',
        '--image-size',
        '64',
        '--seed',
        '5',
        timeout=300)
    assert out.strip() == f'{shapes}: 12 train, 6 val'
    assert osp.isfile(osp.join(shapes, 'train', 'star', '00001.png'))
    reference = str(tmp_path / 'reference')
    make_classification_set(reference, 2, 1, image_size=64, seed=5)
    name = osp.join('val', 'cross', '00000.png')
    with open(osp.join(shapes, name), 'rb') as a, \
            open(osp.join(reference, name), 'rb') as b:
        assert a.read() == b.read()
    out = run_tool(
        'tools/misc/make_synthetic_data.py',
        'scenes',
        scenes,
        '--num-train',
        '2',
        '--num-val',
        '1',
        timeout=300)
    assert out.strip() == f'{scenes}: 2 train, 1 val'
    with open(osp.join(scenes, 'annotations', 'instances_val.json')) as f:
        coco = json.load(f)
    assert len(coco['images']) == 1 and coco['annotations']
