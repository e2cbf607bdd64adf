"""mmvig.visualization and tools/analysis/visualize_neighbours.py: the
neighbour maps are the model's own; beta and training curves draw."""
import os
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch

import mmvig
from mmvig.apis import init_model
from mmvig.ops import svga_cross_attention
from mmvig.stack import installed_stack
from mmvig.testing import TINY, run_tool
from mmvig.visualization import (grapher_input, graphers, neighbour_maps,
                                 plot_beta_curves, plot_training_curves,
                                 read_scalars, temperatures_of)


@pytest.mark.parametrize('normalize', ['none', 'mean', 'softmax'])
def test_neighbour_maps_are_the_models_own(normalize):
    """Panel (a) is the cosine of the node's query with every key; panel (b)
    holds weights on exactly the node's SVGA neighbours, and those weights
    times the values give the operator's own message for that node."""
    torch.manual_seed(0)
    backbone = mmvig.AttentionViG(
        TINY,
        aggregator=dict(
            type='CrossAttention',
            num_heads=4,
            normalize=normalize,
            init_beta=3.0)).eval()
    grapher = graphers(backbone)[1][0]
    x = grapher_input(backbone, grapher, torch.randn(1, 3, 96, 80))
    _, channels, height, width = x.shape
    node = (4, 7)
    maps = neighbour_maps(grapher, x, node, stride=8)

    aggregation = grapher.aggregate.branch
    with torch.no_grad():
        q, k, v = aggregation.qkv(x).chunk(3, dim=1)
    heads, dims = 4, channels // 4
    qh = q.reshape(heads, dims, height, width)
    kh = k.reshape(heads, dims, height, width)
    expected = torch.einsum('hd,hdyx->hyx', qh[:, :, 4, 7], kh) / (
        qh[:, :, 4, 7].norm(dim=1)[:, None, None] * kh.norm(dim=1))
    torch.testing.assert_close(maps.cosine, expected, rtol=1e-5, atol=1e-5)

    marked = {(r, c)
              for r, c in zip(*np.nonzero(~maps.weights[0].isnan().numpy()))}
    rows = {((4 + t) % height, 7) for t in range(2, height, 2)}
    cols = {(4, (7 + t) % width) for t in range(2, width, 2)}
    assert marked == rows | cols

    with torch.no_grad():
        message = svga_cross_attention(q, k, v, aggregation.log_beta,
                                       grapher.shifts(height, width), heads,
                                       normalize)[0, :, 4,
                                                  7].reshape(heads, dims)
    vh = v.reshape(heads, dims, height, width)
    weights = maps.weights.nan_to_num(0.)
    from_maps = torch.einsum('hyx,hdyx->hd', weights, vh)
    torch.testing.assert_close(from_maps, message, rtol=1e-4, atol=1e-5)


def test_beta_curves_and_training_curves_draw(tmp_path):
    backbone = mmvig.AttentionViG(TINY)
    temperatures = temperatures_of(backbone)
    assert [t[0] for t in temperatures
            ][:2] == ['stage 1, Grapher 1', 'stage 2, Grapher 1']
    fig = plot_beta_curves(temperatures)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4
    s, w = lines[0].get_data()
    np.testing.assert_allclose(w, np.exp(-10 * (1 - s)), rtol=1e-5)
    fig.savefig(tmp_path / 'beta.png')
    assert (tmp_path / 'beta.png').stat().st_size > 1000


@pytest.mark.slow
def test_tools_and_inferencers_on_trained_checkpoints(tiny_runs, scenes,
                                                      tmp_path):
    """print_beta and visualize_neighbours read the detector, segmentor and
    classifier checkpoints; mmdet's DetInferencer, mmseg's MMSegInferencer
    and mmpretrain's ImageClassificationInferencer run on them as they are
    and draw their predictions."""
    image = osp.join(scenes, 'images', 'val', '00000.png')
    for task, (config, checkpoint) in tiny_runs.items():
        out = str(tmp_path / f'{task}_neighbours.png')
        run_tool(
            'tools/analysis/visualize_neighbours.py',
            config,
            checkpoint,
            image,
            '--size',
            '0',
            '--stage',
            '2',
            '--layer',
            '1',
            '--out',
            out,
            '--beta-curves',
            str(tmp_path / f'{task}_b.png'),
            timeout=600)
        drawn = mmcv.imread(out)
        assert drawn.shape[0] > 300 and drawn.std() > 10
        model = init_model(config, checkpoint)
        assert len(temperatures_of(model.backbone)) == 4

    # On the OneDL stack mmseg's inferencer cannot load an mmseg:: config
    # from its path (onedl-mmengine 0.10.12 looks for the distribution
    # mmsegmentation; docs/installation.md, "Two stacks"): it is given the
    # config as mmvig.apis.read_config loads it, as the docs say.
    seg_model = 'read_config(C)' if installed_stack() == 'onedl' else 'C'
    calls = {
        'det': ("from mmdet.apis import DetInferencer as I; "
                "r = I(model=C, weights=W, device='cpu')(IMG, out_dir=O); "
                "print(len(r['predictions'][0]['labels']))"),
        'seg': ("from mmseg.apis import MMSegInferencer as I; "
                "from mmvig.apis import read_config; "
                f"r = I(model={seg_model}, weights=W, device='cpu')(IMG, "
                "out_dir=O); print(r['predictions'].shape)"),
        'cls': ("from mmpretrain.apis import ImageClassificationInferencer "
                "as I; r = I(model=C, pretrained=W, device='cpu')(IMG, "
                "show_dir=O); print(r[0]['pred_class'])"),
    }
    for task, call in calls.items():
        config, checkpoint = tiny_runs[task]
        out_dir = str(tmp_path / f'{task}_inferencer')
        code = (f'import mmvig; C, W, IMG, O = {config!r}, {checkpoint!r}, '
                f'{image!r}, {out_dir!r}; {call}')
        run_tool('-c', code, timeout=600)
        pictures = [
            osp.join(d, f) for d, _, files in os.walk(out_dir) for f in files
            if f.endswith('.png')
        ]
        assert pictures, f'{task}: the inferencer drew nothing'


@pytest.mark.slow
def test_training_curves_of_a_run(tiny_runs, tmp_path):
    _, checkpoint = tiny_runs['seg']
    work_dir = osp.dirname(checkpoint)
    train, _ = read_scalars(work_dir)
    assert train and all('loss' in r for r in train)
    fig = plot_training_curves(work_dir, 'mIoU')
    steps, losses = fig.axes[0].get_lines()[0].get_data()
    assert list(losses) == [r['loss'] for r in train]
