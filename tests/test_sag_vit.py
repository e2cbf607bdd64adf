"""SAG-ViT: levels at odd sizes, the k-connectivity graph and its edge
weights, graph attention against its equations, settings, errors, configs,
registries, and short training runs of the three tasks on generated data."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import mmvig  # noqa: F401
from mmvig import AttentionViG, SAGViT
from mmvig.models.pretrained import CheckpointMismatchError
from mmvig.models.graph import k_connectivity_graph, similarity_edge_weights
from mmvig.models.sag_vit import GraphAttention
from helpers import (SAG_TINY, TINY, batch_loss, first_train_batch,
                     outputs_and_grads, use_small_loaders)


def _levels(height, width):
    return [(math.ceil(height / 2**(i + 2)), math.ceil(width / 2**(i + 2)))
            for i in range(4)]


@pytest.mark.parametrize('height,width', [(97, 131), (64, 64), (225, 161),
                                          (130, 65)])
def test_levels_have_ceil_stride_shapes(height, width):
    model = SAGViT(SAG_TINY).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, height, width))
    assert [o.shape[1] for o in outs] == model.out_channels == [32, 48, 32, 32]
    assert [tuple(o.shape[-2:]) for o in outs] == _levels(height, width)


@pytest.mark.parametrize('patch_size,k', [(1, 1), (3, 2)])
def test_patch_size_and_k_set_the_node_grid(patch_size, k):
    model = SAGViT(SAG_TINY, patch_size=patch_size, k=k).eval()
    height, width = 200, 300  # stride-16 map 13x19
    rows, cols = model.node_grid(height, width)
    assert (rows, cols) == (math.ceil(13 / patch_size),
                            math.ceil(19 / patch_size))
    seen = {}
    model.gat_blocks[0].register_forward_hook(
        lambda m, args, out: seen.update(graph=args[1]))
    with torch.no_grad():
        outs = model(torch.randn(1, 3, height, width))
    assert seen['graph'].num_nodes == rows * cols
    assert seen['graph'].index.shape[1] == (2 * k + 1)**2
    assert [tuple(o.shape[-2:]) for o in outs] == _levels(height, width)


def test_out_indices_and_cls_token():
    model = SAGViT(SAG_TINY, out_indices=(-1, 1)).eval()
    assert model.out_indices == (1, 3) and model.out_channels == [48, 32]
    cls = SAGViT(SAG_TINY, out_indices=(3, ), out_type='cls_token').eval()
    cls.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert cls(x)[0].shape == (2, 32)
        fine = SAGViT(SAG_TINY, out_indices=(0, 1)).eval()
        fine.load_state_dict(model.state_dict())
        # Fine levels need only the trunk: the same maps as the full model.
        torch.testing.assert_close(fine(x)[1], model(x)[0])


@pytest.mark.parametrize('height,width,k', [(4, 5, 1), (5, 3, 2), (2, 6, 1),
                                            (6, 6, 3)])
def test_k_connectivity_matches_direct_neighbour_sets(height, width, k):
    graph = k_connectivity_graph(height, width, k)
    assert graph.index.shape == graph.mask.shape == (height * width,
                                                     (2 * k + 1)**2)
    for node in range(height * width):
        r, c = divmod(node, width)
        expected = {rr * width + cc for rr in range(height)
                    for cc in range(width)
                    if max(abs(rr - r), abs(cc - c)) <= k}
        valid = graph.index[node][graph.mask[node]].tolist()
        assert len(valid) == len(set(valid)) and set(valid) == expected
        for slot, (dr, dc) in enumerate(graph.offsets.tolist()):
            inside = 0 <= r + dr < height and 0 <= c + dc < width
            assert bool(graph.mask[node, slot]) == inside
            if inside:
                assert graph.index[node, slot] == (r + dr) * width + c + dc


def test_edge_weights_are_cosine_similarities_of_the_endpoints():
    torch.manual_seed(0)
    x = torch.randn(2, 12, 5, dtype=torch.float64)
    graph = k_connectivity_graph(3, 4, 1)
    weights = similarity_edge_weights(x, graph)
    assert weights.shape == (2, 12, 9)
    for b in range(2):
        for i in range(12):
            for slot in range(9):
                j = int(graph.index[i, slot])
                expected = (F.cosine_similarity(x[b, i], x[b, j], dim=0)
                            if graph.mask[i, slot] else 0.)
                assert float(weights[b, i, slot]) == pytest.approx(
                    float(expected), abs=1e-12)


def test_graph_attention_matches_per_node_equations():
    torch.manual_seed(0)
    heads, dims, height, width = 2, 8, 3, 4
    layer = GraphAttention(dims, heads).double()
    nn.init.normal_(layer.att_edge)
    nn.init.normal_(layer.bias)
    x = torch.randn(2, height * width, dims, dtype=torch.float64)
    graph = k_connectivity_graph(height, width, 1)
    out = layer(x, graph, similarity_edge_weights(x, graph))

    h = layer.fc(x)
    c = dims // heads
    for b in range(2):
        for i in range(height * width):
            r, col = divmod(i, width)
            neighbours = [j for j in range(height * width)
                          if max(abs(j // width - r), abs(j % width - col)) <= 1]
            per_head = []
            for head in range(heads):
                part = slice(head * c, (head + 1) * c)
                logits = torch.stack([F.leaky_relu(
                    layer.att_dst[head] @ h[b, i, part] +
                    layer.att_src[head] @ h[b, j, part] +
                    layer.att_edge[head] *
                    F.cosine_similarity(x[b, i], x[b, j], dim=0), 0.2)
                    for j in neighbours])
                alpha = logits.softmax(0)
                per_head.append(sum(a * h[b, j, part]
                                    for a, j in zip(alpha, neighbours)))
            expected = layer.proj(F.gelu(torch.cat(per_head) + layer.bias))
            torch.testing.assert_close(out[b, i], expected)


def test_edge_weights_steer_attention():
    """With the edge term, a similar neighbour gets more weight than an
    equally scored dissimilar one."""
    layer = GraphAttention(4, 1)
    nn.init.zeros_(layer.att_dst)
    nn.init.zeros_(layer.att_src)
    graph = k_connectivity_graph(1, 3, 1)
    weights = torch.tensor([[[0., 0., 0., 0., 1., 1., 0., 0., 0.],
                             [0., 0., 0., 1., 1., -1., 0., 0., 0.],
                             [0., 0., 0., 1., 1., 0., 0., 0., 0.]]])
    h = layer.fc(torch.randn(1, 3, 4)).view(1, 3, 1, 4)
    alpha = layer.attention(h, graph, weights)[0, 1, :, 0]  # middle node
    assert alpha[3] > alpha[5] and alpha[4] > alpha[5]
    assert float(alpha.sum()) == pytest.approx(1.0)


@pytest.mark.parametrize('frozen_stages', [0, 2, 4])
def test_frozen_stages(frozen_stages):
    model = SAGViT(SAG_TINY, frozen_stages=frozen_stages)
    model.train()
    stages = model._stages()
    frozen = [m for s in stages[:frozen_stages + 1] for m in s]
    trainable = [m for s in stages[frozen_stages + 1:] for m in s]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(not m.training for m in frozen)
    assert all(p.requires_grad for m in trainable for p in m.parameters())
    assert model.cls_token.requires_grad == (frozen_stages < 4)
    outs = model(torch.randn(2, 3, 96, 96))
    if frozen_stages == 4:
        assert not any(o.requires_grad for o in outs)
        return
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is None for m in frozen for p in m.parameters())


def test_norm_eval_keeps_trunk_statistics():
    model = SAGViT(SAG_TINY, norm_eval=True).train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(not m.training for m in norms)
    before = [m.running_mean.clone() for m in norms]
    model(torch.randn(2, 3, 64, 64))
    assert all(torch.equal(a, m.running_mean) for a, m in zip(before, norms))


def test_drop_path_grows_over_graph_and_transformer_layers():
    model = SAGViT(dict(SAG_TINY, gat_layers=2, depth=3), drop_path_rate=0.3)
    rates = [m.drop_prob for blocks in (model.gat_blocks, model.layers)
             for m in blocks.modules() if type(m).__name__ == 'DropPath']
    # The first GAT block has rate 0 (no DropPath); each Transformer layer
    # has one before its attention and one before its FFN residual.
    assert len(rates) == 1 + 2 * 3
    assert rates == sorted(rates) and rates[-1] == pytest.approx(0.3)


def test_checkpointing_keeps_results_and_running_stats():
    torch.manual_seed(0)
    model = SAGViT(SAG_TINY).train()
    with_cp = copy.deepcopy(model)
    with_cp.with_cp = True
    x = torch.randn(2, 3, 80, 96)
    expected, weights = outputs_and_grads(model, x)
    actual, _ = outputs_and_grads(with_cp, x, weights)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-4 * e.abs().max())
    for a, b in zip(model.modules(), with_cp.modules()):
        if isinstance(a, _BatchNorm):
            torch.testing.assert_close(a.running_var, b.running_var)
            assert a.num_batches_tracked == b.num_batches_tracked == 1


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="Unknown SAG-ViT arch 'huge'"):
        SAGViT('huge')
    with pytest.raises(ValueError, match='custom SAG-ViT arch'):
        SAGViT(dict(trunk='b0', embed_dims=32))
    with pytest.raises(ValueError, match="EfficientNetV2 trunk 'b9'"):
        SAGViT(dict(SAG_TINY, trunk='b9'))
    with pytest.raises(ValueError, match='num_heads .3. must divide'):
        SAGViT(dict(SAG_TINY, num_heads=3))
    with pytest.raises(ValueError,
                       match=r'patch_size must be in \[1, inf\], got 0'):
        SAGViT(SAG_TINY, patch_size=0)
    with pytest.raises(ValueError, match='k .graph connectivity. must be'):
        SAGViT(SAG_TINY, k=0)
    with pytest.raises(ValueError, match='out_type'):
        SAGViT(SAG_TINY, out_type='tokens')
    with pytest.raises(ValueError, match='out_indices'):
        SAGViT(SAG_TINY, out_indices=(4, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        SAGViT(SAG_TINY, frozen_stages=5)
    with pytest.raises(ValueError, match='cannot hold one 4x4 patch.*at '
                       'least 64 pixels'):
        SAGViT(SAG_TINY, patch_size=4)(torch.randn(1, 3, 48, 100))
    with pytest.raises(ValueError, match='patch grid is 3x3.*cannot hold '
                       '3-step.*at least 97 pixels'):
        SAGViT(SAG_TINY, k=3)(torch.randn(1, 3, 96, 96))
    # The fine levels need no patch grid.
    SAGViT(SAG_TINY, k=3, out_indices=(0, 1))(torch.randn(1, 3, 32, 32))


def _save_classifier(model, path, extra=None):
    torch.save({'state_dict': {
        **{f'backbone.{k}': v for k, v in model.state_dict().items()},
        **(extra or {})}}, path)


def test_pretrained_init_loads_classifier_and_trunk(tmp_path):
    from mmpretrain.models import EfficientNetV2
    source = SAGViT(SAG_TINY)
    for p in source.parameters():
        nn.init.normal_(p)
    ckpt = tmp_path / 'sagvit.pth'
    _save_classifier(source, ckpt, {'head.layers.0.fc.weight': torch.zeros(1)})
    model = SAGViT(SAG_TINY, init_cfg=dict(type='Pretrained',
                                           checkpoint=str(ckpt)))
    model.init_weights()
    for (k, a), b in zip(source.state_dict().items(),
                         model.state_dict().values()):
        assert torch.equal(a, b), k

    effnet = EfficientNetV2('b0')
    for p in effnet.parameters():
        nn.init.normal_(p)
    trunk_ckpt = tmp_path / 'effnet.pth'
    _save_classifier(effnet, trunk_ckpt)
    model = SAGViT(SAG_TINY, trunk_init_cfg=dict(
        type='Pretrained', checkpoint=str(trunk_ckpt), prefix='backbone.'))
    model.init_weights()
    for k, v in model.trunk.state_dict().items():
        assert torch.equal(v, effnet.state_dict()[k]), k

    wrong = SAGViT(SAG_TINY, trunk_init_cfg=dict(
        type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    with pytest.raises(CheckpointMismatchError, match='missing keys'):
        wrong.init_weights()  # a SAG-ViT checkpoint is no trunk checkpoint
    attention_vig = tmp_path / 'attentionvig.pth'
    _save_classifier(AttentionViG(TINY), attention_vig)
    model = SAGViT(SAG_TINY, init_cfg=dict(type='Pretrained',
                                           checkpoint=str(attention_vig)))
    with pytest.raises(CheckpointMismatchError, match='does not match SAGViT'):
        model.init_weights()


@pytest.mark.parametrize('library', ['mmpretrain', 'mmdet', 'mmseg'])
def test_builds_from_each_registry(library):
    registry = __import__(f'{library}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(library):
        model = registry.build(dict(type='SAGViT', arch=SAG_TINY))
    assert isinstance(model, SAGViT)


def test_timm_models():
    import timm
    assert {'sagvit_small', 'sagvit_base'} <= set(timm.list_models('sagvit_*'))
    model = timm.create_model('sagvit_small', num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 96, 96)).shape == (2, 7)
        model.reset_classifier(0)  # the head's hidden features
        assert model(torch.randn(1, 3, 96, 96)).shape == (1, 256)
    features = timm.create_model('sagvit_base', features_only=True,
                                 out_indices=(0, 3))
    assert features.feature_info.channels() == [48, 384]
    assert features.feature_info.reduction() == [4, 32]
    with pytest.raises(ValueError, match='no pretrained sagvit_small'):
        timm.create_model('sagvit_small', pretrained=True)


def test_timm_classifier_loads_mmpretrain_classifier_keys():
    import timm
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile('configs/sagvit_small_in1k.py')
    cfg.model.head.num_classes = 10
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = MODELS.build(cfg.model).eval()
    model = timm.create_model('sagvit_small', num_classes=10).eval()
    own = {k: v for k, v in classifier.state_dict().items()
           if not k.startswith('data_preprocessor')}
    model.load_state_dict(own)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = classifier(x, mode='tensor')
        torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize('arch,dims', [('small', 256), ('base', 384)])
def test_imagenet_configs_build(arch, dims):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(f'configs/sagvit_{arch}_in1k.py')
    assert cfg.train_cfg.max_epochs == 300
    assert cfg.model.head.in_channels == dims
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model).eval()
    assert model.backbone.arch_settings['embed_dims'] == dims
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224), mode='tensor').shape == (
            1, 1000)


def test_cifar10_config_reports_f1():
    from mmpretrain.registry import METRICS, MODELS
    from mmpretrain.structures import DataSample
    cfg = Config.fromfile('configs/sagvit_base_cifar10.py')
    assert cfg.model.head.num_classes == 10
    assert cfg.model.backbone.trunk_init_cfg.prefix == 'backbone.'
    assert any(t.type == 'Resize' and t.scale == (224, 224)
               for t in cfg.train_pipeline)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.backbone.pop('trunk_init_cfg')
        model = MODELS.build(model_cfg).eval()
        metrics = [METRICS.build(m) for m in cfg.val_evaluator]
    images = torch.randn(4, 3, 224, 224)
    with torch.no_grad():
        samples = model(images, [DataSample().set_gt_label(label)
                                 for label in (0, 1, 2, 3)], mode='predict')
    results = {}
    for metric in metrics:
        metric.dataset_meta = dict(classes=[str(i) for i in range(10)])
        metric.process(None, [s.to_dict() for s in samples])
        results.update(metric.evaluate(4))
    assert {'accuracy/top1', 'single-label/f1-score'} <= set(results)


def test_short_classification_run_lowers_the_loss(shapes, tmp_path):
    cfg = Config.fromfile('configs/demo/sagvit_small_shapes.py')
    cfg.work_dir = str(tmp_path)
    cfg.model.backbone.arch = SAG_TINY
    cfg.model.head.in_channels = 32
    cfg.model.head.mid_channels = [32]
    use_small_loaders(cfg, shapes, batch_size=12)
    cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = 6
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0)]
    cfg.optim_wrapper.optimizer.lr = 2e-3
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    data = first_train_batch(runner)
    before = batch_loss(runner.model, data)
    runner.train()
    after = batch_loss(runner.model, data)
    assert after < 0.8 * before, (before, after)
    metrics = runner.val_loop.run()
    assert 'accuracy/top1' in metrics


@pytest.mark.parametrize('task', ['det', 'seg'])
def test_short_dense_runs_train_and_resume(task, scenes, tmp_path):
    """Mask R-CNN and Semantic FPN with SAG-ViT train on generated scenes,
    evaluate, and resume from their checkpoint."""
    config = {'det': 'configs/demo/mask_rcnn_sagvit_small_scenes.py',
              'seg': 'configs/demo/fpn_sagvit_small_scenes.py'}[task]
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp_path)
    cfg.model.backbone.arch = SAG_TINY
    cfg.model.backbone.pop('init_cfg')
    cfg.model.neck.in_channels = [32, 48, 32, 32]
    use_small_loaders(cfg, scenes, batch_size=2)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0)]
    cfg.log_level = 'WARNING'
    if task == 'det':
        cfg.val_evaluator.ann_file = f'{scenes}/annotations/instances_val.json'
        cfg.test_evaluator = cfg.val_evaluator
        cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = 1
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    else:
        cfg.model.data_preprocessor.size = (96, 128)
        cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = 2
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                            by_epoch=False, interval=2)
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    before = {n: p.detach().clone() for n, p in
              runner.model.backbone.named_parameters()}
    runner.train()
    changed = [n for n, p in runner.model.backbone.named_parameters()
               if not torch.equal(p, before[n])]
    assert len(changed) > 0.9 * len(before), sorted(set(before) - set(changed))
    metrics = runner.val_loop.run()  # COCO: empty when no box is predicted
    if task == 'seg':
        assert 0 <= metrics['mIoU'] <= 100

    cfg.resume = True
    if task == 'det':
        cfg.train_cfg.max_epochs = 2
    else:
        cfg.train_cfg.max_iters = 4
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert (resumed.epoch, resumed.iter) == ((2, 8) if task == 'det'
                                             else (0, 4))
