"""Deployment: exact folding (BatchNorm and layer scale into the convs,
the positional encoding into one conv) and ONNX export checked in
onnxruntime."""
import importlib
import subprocess
import sys

import pytest
import timm
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

import mmvig
from mmvig.deploy import (TensorOutput, export_onnx, exportable,
                          onnxruntime_outputs, switch_to_deploy)
from mmvig.models.layers import LayerScale2d
from helpers import SAG_TINY, TINY


def randomise_norms(model: torch.nn.Module) -> torch.nn.Module:
    """BatchNorm statistics and affine weights away from their initial
    values, so that folding has something to do; eval mode."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.copy_(torch.rand(m.num_features, generator=gen)
                                 * 2 - 1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen)
                                + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen)
                                + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=gen)
                              - 0.5)
        elif isinstance(m, LayerScale2d):
            m.weight.data.uniform_(0.5, 1.5, generator=gen)
    return model.eval()


def classifier(arch='s'):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(f'configs/attentionvig_{arch}_in1k.py')
    cfg.model.teacher = None
    cfg.model.data_preprocessor = cfg.data_preprocessor
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return randomise_norms(MODELS.build(cfg.model))


def outputs(model, x):
    with torch.no_grad():
        out = TensorOutput(model)(x)
    return [out] if isinstance(out, torch.Tensor) else list(out)


def assert_relative(actual, expected, bound):
    for a, e in zip(actual, expected):
        assert float((a - e).abs().max() / e.abs().max()) <= bound


MODELS = {
    'AttentionViG-S classifier (mmpretrain), 224': (classifier, 224, 224),
    'AttentionViG-S dense backbone, 97x131': (
        lambda: randomise_norms(mmvig.AttentionViG('s')), 97, 131),
    'AttentionViG-B timm classifier, 97x131': (
        lambda: randomise_norms(timm.create_model('attentionvig_b')), 97,
        131),
    'SAG-ViT dense backbone, 97x131': (
        lambda: randomise_norms(mmvig.SAGViT('small')), 97, 131),
}


@pytest.mark.parametrize('name', list(MODELS))
def test_folding_is_exact(name):
    build, height, width = MODELS[name]
    model = build()
    x = torch.randn(2, 3, height, width)
    expected = outputs(model, x)
    switch_to_deploy(model)
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    assert_relative(outputs(model, x), expected, 1e-5)


def test_attention_vig_folds_every_foldable_layer_scale():
    model = randomise_norms(mmvig.AttentionViG(TINY))
    model.switch_to_deploy()
    scales = [n for n, m in model.named_modules()
              if isinstance(m, LayerScale2d)]
    # Only the aggregation branches keep theirs: a GELU comes before it.
    assert scales and all(n.endswith('aggregate.layer_scale') for n in scales)
    assert all(m.identity_folded for m in model.modules()
               if type(m).__name__ == 'ConvPositionEncoding')


def test_folding_in_training_mode_folds_the_running_statistics():
    """As mmpretrain's re-parameterisable backbones, and as mmdeploy calls
    it (``switch_to_deploy`` before ``eval``): folded in training mode, the
    model computes what it computed in eval mode."""
    for model in (randomise_norms(mmvig.AttentionViG(TINY)),
                  randomise_norms(timm.create_model('attentionvig_s',
                                                    arch=TINY)),
                  randomise_norms(mmvig.SAGViT(SAG_TINY))):
        x = torch.randn(2, 3, 97, 131)
        expected = outputs(model.eval(), x)
        model.train().switch_to_deploy()
        assert not any(isinstance(m, _BatchNorm) for m in model.modules())
        # float32 rounding through the folds; batch statistics would be O(1)
        assert_relative(outputs(model.eval(), x), expected, 1e-4)


@pytest.mark.parametrize('size', [(224, 224), (97, 131)])
def test_onnx_export_matches_pytorch(size, tmp_path):
    pytest.importorskip('onnxruntime')
    model = exportable(classifier())
    path = str(tmp_path / 'attentionvig_s.onnx')
    assert export_onnx(model, path, size) == ('logits', )
    x = torch.randn(2, 3, *size)
    expected = outputs(model, x)
    actual = [torch.from_numpy(o) for o in onnxruntime_outputs(path, x)]
    assert_relative(actual, expected, 1e-4)


def _svga_axes(model, size):
    """``(dense, shifts, aggregations)``: how many SVGA axes of ``model`` at
    ``size`` have a stride that divides them (dense attention over residue
    classes), how many shifts the other axes have, and how many
    cross-attention aggregations there are."""
    from mmvig.models.attention_vig import CrossAttentionAggregation
    from mmvig.ops.svga_graph import residue_classes
    dense, shifts, calls, hooks = [0], [0], [0], []

    def hook(module, args, output):
        x, graph = args
        calls[0] += 1
        for length, offsets in zip(x.shape[2:], graph):
            if offsets and residue_classes(length, offsets) > 1:
                dense[0] += 1
            else:
                shifts[0] += len(offsets)

    for m in model.modules():
        if isinstance(m, CrossAttentionAggregation):
            hooks.append(m.register_forward_hook(hook))
    outputs(model, torch.randn(1, 3, *size))
    for h in hooks:
        h.remove()
    return dense[0], shifts[0], calls[0]


@pytest.mark.parametrize('size', [(224, 224), (97, 131)])
def test_onnx_writes_dense_axes_as_matmul(size, tmp_path):
    """The aggregation exports as MatMul over residue classes wherever the
    stride divides the side: one Exp per such axis and one per shift only
    on the others, plus each aggregation's beta = exp(log_beta) (GELU
    exports as Erf: every Exp is the aggregation's)."""
    onnx = pytest.importorskip('onnx')
    model = exportable(classifier())
    path = str(tmp_path / 'model.onnx')
    export_onnx(model, path, size)
    ops = [node.op_type for node in onnx.load(path).graph.node]
    dense, shifts, aggregations = _svga_axes(model, size)
    assert dense > 0
    assert ops.count('Exp') == dense + shifts + aggregations
    assert ops.count('MatMul') >= 2 * dense  # scores and weighted sums


def test_onnx_export_of_a_dense_backbone(tmp_path):
    pytest.importorskip('onnxruntime')
    model = exportable(randomise_norms(mmvig.AttentionViG(TINY)))
    path = str(tmp_path / 'backbone.onnx')
    names = export_onnx(model, path, (97, 131))
    assert names == ('level0', 'level1', 'level2', 'level3')
    x = torch.randn(1, 3, 97, 131)
    actual = [torch.from_numpy(o) for o in onnxruntime_outputs(path, x)]
    assert [tuple(a.shape[-2:]) for a in actual] == [(25, 33), (13, 17),
                                                     (7, 9), (4, 5)]
    assert_relative(actual, outputs(model, x), 1e-4)


@pytest.mark.slow
def test_folded_model_compiles_whole(tmp_path):
    """The folded backbone under torch.compile (channels_last), fullgraph:
    the SVGA operator is one node of the graph, no break."""
    model = randomise_norms(mmvig.AttentionViG(TINY))
    model.switch_to_deploy()
    x = torch.randn(2, 3, 97, 131)
    expected = outputs(model, x)
    compiled = torch.compile(model.to(memory_format=torch.channels_last),
                             fullgraph=True)
    with torch.no_grad():
        actual = compiled(x.to(memory_format=torch.channels_last))
    assert_relative(actual, expected, 1e-4)


def test_any_onnx_export_writes_the_standard_operators(tmp_path):
    """A plain ``torch.onnx.export`` of a model as built (``impl='auto'``,
    nothing set by hand, as mmdeploy or a user's script calls it) writes
    the aggregation as standard operators, not mmvig's custom op, and
    onnxruntime computes what PyTorch does."""
    onnx = pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    model = randomise_norms(mmvig.AttentionViG(TINY)).eval()
    assert {m.impl for m in model.modules() if hasattr(m, 'impl')} == {'auto'}
    x = torch.randn(1, 3, 97, 131)
    path = str(tmp_path / 'plain.onnx')
    torch.onnx.export(model, (x, ), path, input_names=['images'],
                      opset_version=17, dynamo=False)
    domains = {node.domain for node in onnx.load(path).graph.node}
    assert domains <= {'', 'ai.onnx'}, domains
    actual = [torch.from_numpy(o) for o in onnxruntime_outputs(path, x)]
    assert_relative(actual, outputs(model, x), 1e-4)


def _demo_checkpoint_and_image(config: str, scope: str, directory) -> tuple:
    """A seeded, untrained model of a demo config saved as a checkpoint, and
    one generated 192x160 scene."""
    import numpy as np

    from mmvig.datasets.synthetic import (background_colors, random_scene,
                                          render_scene)
    cfg = Config.fromfile(config)
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
    render_scene(random_scene(rng, (192, 160), 3, background), (192, 160),
                 rng, background).save(image)
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
    pytest.importorskip('mmdeploy')
    checkpoint, image = _demo_checkpoint_and_image(
        f'configs/demo/{config}.py', scope, tmp_path)
    result = subprocess.run(
        [sys.executable, 'tools/deploy/mmdeploy_onnxruntime.py',
         f'configs/deploy/{deploy_cfg}.py', f'configs/demo/{config}.py',
         checkpoint, image, '--shape', '160', '192', '--work-dir',
         str(tmp_path / 'work')], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    line = result.stdout.strip().splitlines()[-1]
    print(line)
    assert line.startswith('onnxruntime vs PyTorch: ')
    diff = dict(item.rsplit(' ', 1) for item in
                line[len('onnxruntime vs PyTorch: '):].split(', '))
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


def test_import_mmvig_leaves_torch_onnx_alone():
    """The torch 2.13 fixes for mmdeploy live in the deploy tool's process:
    ``import mmvig`` (and mmdeploy's import) change neither
    ``torch.onnx.export`` nor ``symbolic_opset9``."""
    code = ('import torch, mmvig, mmvig.models\n'
            'from torch.onnx import symbolic_opset9\n'
            'export = torch.onnx.export\n'
            'print(hasattr(symbolic_opset9, "_cast_Long"),'
            ' getattr(export, "mmvig_patched", False),'
            ' export.__module__)\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[:2] == ['False', 'False'] and out[2].startswith('torch.onnx')


@pytest.mark.parametrize('name', ['AttentionViG', 'SAGViT'])
def test_folded_checkpoint_round_trip(name, tmp_path):
    """A folded backbone saved with mmengine's ``save_checkpoint`` loads,
    strictly, into one built with ``deploy=True`` (mmpretrain's convention
    for re-parameterised backbones), which then computes what the folded
    model and the eval-mode model compute."""
    from mmengine.runner.checkpoint import load_checkpoint, save_checkpoint
    cls = mmvig.AttentionViG if name == 'AttentionViG' else mmvig.SAGViT
    arch = TINY if name == 'AttentionViG' else SAG_TINY
    torch.manual_seed(0)
    model = randomise_norms(cls(arch))
    x = torch.randn(2, 3, 97, 131)
    expected = outputs(model, x)
    model.switch_to_deploy()
    path = str(tmp_path / 'folded.pth')
    save_checkpoint(model.state_dict(), path)
    rebuilt = cls(arch, deploy=True).eval()
    assert set(rebuilt.state_dict()) == set(model.state_dict())
    load_checkpoint(rebuilt, path, strict=True)
    assert_relative(outputs(rebuilt, x), outputs(model, x), 1e-6)
    assert_relative(outputs(rebuilt, x), expected, 1e-5)
    with pytest.raises(Exception, match='Missing key|Unexpected key'):
        cls(arch).load_state_dict(rebuilt.state_dict())
