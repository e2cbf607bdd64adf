"""SAG-ViT's configs: ImageNet and CIFAR-10 build, and short runs on
generated data train, lower the loss and resume."""
import copy

import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import mmvig  # noqa: F401
from mmvig.apis import read_config
from mmvig.testing import (SAG_TINY, check_training_lowers_loss,
                           use_small_loaders)


@pytest.mark.parametrize('arch,dims', [('small', 256), ('base', 384)])
def test_imagenet_configs_build(arch, dims):
    from mmpretrain.registry import MODELS
    cfg = read_config(f'configs/sagvit_{arch}_in1k.py')
    assert cfg.train_cfg.max_epochs == 300
    assert cfg.model.head.in_channels == dims
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model).eval()
    assert model.backbone.arch_settings['embed_dims'] == dims
    with torch.no_grad():
        assert model(
            torch.randn(1, 3, 224, 224), mode='tensor').shape == (1, 1000)


def test_cifar10_config_reports_f1():
    from mmpretrain.registry import METRICS, MODELS
    from mmpretrain.structures import DataSample
    cfg = read_config('configs/sagvit_base_cifar10.py')
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
        samples = model(
            images,
            [DataSample().set_gt_label(label) for label in (0, 1, 2, 3)],
            mode='predict')
    results = {}
    for metric in metrics:
        metric.dataset_meta = dict(classes=[str(i) for i in range(10)])
        metric.process(None, [s.to_dict() for s in samples])
        results.update(metric.evaluate(4))
    assert {'accuracy/top1', 'single-label/f1-score'} <= set(results)


def test_short_classification_run_lowers_the_loss(shapes, tmp_path):
    cfg = read_config('configs/demo/sagvit_small_shapes.py')
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
    check_training_lowers_loss(runner)
    metrics = runner.val_loop.run()
    assert 'accuracy/top1' in metrics


@pytest.mark.parametrize('task', ['det', 'seg'])
@pytest.mark.long
def test_short_dense_runs_train_and_resume(task, scenes, tmp_path):
    """Mask R-CNN and Semantic FPN with SAG-ViT train on generated scenes,
    evaluate, and resume from their checkpoint."""
    config = {
        'det': 'configs/demo/mask_rcnn_sagvit_small_scenes.py',
        'seg': 'configs/demo/fpn_sagvit_small_scenes.py'
    }[task]
    cfg = read_config(config)
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
        cfg.default_hooks.checkpoint = dict(
            type='CheckpointHook', by_epoch=False, interval=2)
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    before = {
        n: p.detach().clone()
        for n, p in runner.model.backbone.named_parameters()
    }
    runner.train()
    changed = [
        n for n, p in runner.model.backbone.named_parameters()
        if not torch.equal(p, before[n])
    ]
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
    assert (resumed.epoch, resumed.iter) == ((2, 8) if task == 'det' else
                                             (0, 4))
