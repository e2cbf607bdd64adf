"""The Mask R-CNN and Semantic FPN configs: the paper's settings, frozen BN
and stages, beta frozen through training and resume, missing files named."""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch.nn.modules.batchnorm import _BatchNorm

import mmvig  # noqa: F401
from mmvig.apis import read_config
from mmvig.datasets import check_data_paths
from mmvig.engine import FreezeBetaHook, temperature_parameters
from mmvig.testing import TINY, use_small_loaders

DET_CONFIGS = sorted(
    glob.glob('configs/mask_rcnn_*_coco*.py') +
    glob.glob('configs/ablations/mask_rcnn_*_coco*.py'))

SEG_CONFIGS = sorted(
    glob.glob('configs/fpn_*_ade20k*.py') +
    glob.glob('configs/ablations/fpn_*_ade20k*.py'))


def build_model(cfg: Config, scope: str, **backbone):
    """The config's model without its ImageNet checkpoint (segmentors pad to
    128x128 instead of the 512x512 crop, for speed)."""
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.pop('init_cfg')
    if scope == 'mmseg':
        model_cfg.data_preprocessor.size = (128, 128)
    model_cfg.backbone.update(backbone)
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(model_cfg)


@pytest.mark.long
def test_configs_exist_and_follow_the_paper():
    assert sorted(osp.basename(c) for c in DET_CONFIGS) == [
        'mask_rcnn_attentionvig_b_coco.py',
        'mask_rcnn_attentionvig_b_coco_beta_trainable.py',
        'mask_rcnn_attentionvig_m_coco.py', 'mask_rcnn_attentionvig_s_coco.py',
        'mask_rcnn_attentionvig_s_coco_beta_trainable.py',
        'mask_rcnn_attentionvig_s_coco_k8421.py',
        'mask_rcnn_attentionvig_s_coco_pe_residual.py',
        'mask_rcnn_sagvit_base_coco.py', 'mask_rcnn_sagvit_small_coco.py'
    ]
    assert sorted(osp.basename(c) for c in SEG_CONFIGS) == [
        'fpn_attentionvig_b_ade20k.py',
        'fpn_attentionvig_b_ade20k_beta_trainable.py',
        'fpn_attentionvig_m_ade20k.py', 'fpn_attentionvig_s_ade20k.py',
        'fpn_attentionvig_s_ade20k_beta_trainable.py',
        'fpn_attentionvig_s_ade20k_k8421.py',
        'fpn_attentionvig_s_ade20k_pe_residual.py',
        'fpn_sagvit_base_ade20k.py', 'fpn_sagvit_small_ade20k.py'
    ]
    det = read_config('configs/mask_rcnn_attentionvig_b_coco.py')
    assert det.train_cfg.max_epochs == 12
    assert det.param_scheduler[1].milestones == [8, 11]
    assert det.optim_wrapper.optimizer.type == 'AdamW'
    assert det.optim_wrapper.optimizer.lr == 2e-4
    assert det.optim_wrapper.optimizer.weight_decay == 0.05
    assert det.train_dataloader.batch_size * 8 == \
        det.auto_scale_lr.base_batch_size == 16
    assert det.train_pipeline[2].scale == (1333, 800)
    assert det.model.neck.in_channels == [64, 128, 256, 512]
    assert det.model.backbone.init_cfg.checkpoint.endswith('_b_in1k.pth')
    assert det.model.backbone.drop_path_rate == 0.1
    assert det.val_evaluator.metric == ['bbox', 'segm']
    assert det.custom_hooks == [
        dict(type='FreezeBetaHook'),
        dict(type='DivergenceHook')
    ]
    seg = read_config('configs/fpn_attentionvig_m_ade20k.py')
    assert seg.train_cfg.max_iters == 40000
    assert seg.train_dataloader.batch_size * 8 == \
        seg.auto_scale_lr.base_batch_size == 32
    assert seg.optim_wrapper.optimizer.lr == 2e-4
    assert seg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert seg.param_scheduler[0].power == 0.9
    assert seg.crop_size == (512, 512)
    assert seg.model.decode_head.num_classes == 150
    assert seg.model.neck.in_channels == [56, 112, 224, 448]
    assert seg.val_evaluator.iou_metrics == ['mIoU']
    assert seg.custom_hooks == [
        dict(type='FreezeBetaHook'),
        dict(type='DivergenceHook')
    ]
    # Fine-tuning with frozen BatchNorm statistics, every downstream config.
    for config in DET_CONFIGS + SEG_CONFIGS:
        backbone = read_config(config).model.backbone
        assert backbone.norm_eval and backbone.norm_cfg.type == 'BN', config
    for trainable in glob.glob('configs/ablations/*_beta_trainable.py'):
        assert read_config(trainable).custom_hooks == [
            dict(type='DivergenceHook')
        ]
    # SAG-ViT trains on the same recipes (without temperatures to freeze).
    for sagvit, reference in (('configs/mask_rcnn_sagvit_base_coco.py', det),
                              ('configs/fpn_sagvit_small_ade20k.py', seg)):
        cfg = read_config(sagvit)
        assert cfg.optim_wrapper.optimizer == reference.optim_wrapper.optimizer
        for key in ('auto_scale_lr', 'param_scheduler', 'train_cfg',
                    'train_pipeline'):
            assert cfg[key] == reference[key], key


def _norm_state(backbone):
    """Running statistics and affine weights of every BatchNorm."""
    norms = {
        n: m
        for n, m in backbone.named_modules() if isinstance(m, _BatchNorm)
    }
    stats = {
        n:
        torch.cat([
            m.running_mean, m.running_var, m.num_batches_tracked[None].float()
        ])
        for n, m in norms.items()
    }
    affine = {
        n: torch.cat([m.weight, m.bias]).detach().clone()
        for n, m in norms.items()
    }
    return stats, affine


def _params(module):
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def train_step(cfg: Config, model, scope: str, inputs, samples) -> None:
    """One step of the config's optimizer on a batch, in train mode."""
    model.train()
    optim_wrapper = build_optim_wrapper(model,
                                        copy.deepcopy(cfg.optim_wrapper))
    with DefaultScope.overwrite_default_scope(scope):
        data = model.data_preprocessor(
            dict(inputs=inputs, data_samples=samples), True)
        losses = model.loss(data['inputs'], data['data_samples'])
        loss, _ = model.parse_losses(losses)
        optim_wrapper.update_params(loss)


def det_batch():
    from mmdet.testing import demo_mm_inputs
    packed = demo_mm_inputs(
        2, [[3, 128, 160], [3, 96, 128]], num_items=[2, 1], with_mask=True)
    return packed['inputs'], packed['data_samples']


def seg_batch(size=(128, 128)):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(2):
        sample = SegDataSample(
            metainfo=dict(img_shape=size, ori_shape=size, pad_shape=size))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, *size)))
        samples.append(sample)
    return [
        torch.randint(0, 256, (3, *size), dtype=torch.uint8) for _ in range(2)
    ], samples


def check_training_step(config: str, scope: str, batch) -> None:
    """A training step moves every backbone BatchNorm's affine weights and
    leaves its running statistics as they were (stochastic depth off: with
    two images it can drop a block's whole batch, and its gradients)."""
    cfg = read_config(config)
    model = build_model(cfg, scope, drop_path_rate=0.)
    assert model.backbone.out_channels == cfg.model.neck.in_channels
    stats, affine = _norm_state(model.backbone)
    assert stats
    train_step(cfg, model, scope, *batch)
    stats_after, affine_after = _norm_state(model.backbone)
    for name in stats:
        assert torch.equal(stats[name], stats_after[name]), name
        assert not torch.equal(affine[name], affine_after[name]), name


@pytest.mark.parametrize('config,scope',
                         [(c, 'mmdet')
                          for c in DET_CONFIGS] + [(c, 'mmseg')
                                                   for c in SEG_CONFIGS])
@pytest.mark.long
def test_downstream_configs_train_with_frozen_bn_and_predict(config, scope):
    batch = det_batch if scope == 'mmdet' else seg_batch
    check_training_step(config, scope, batch())
    model = build_model(read_config(config), scope).eval()
    inputs, samples = batch()
    with DefaultScope.overwrite_default_scope(scope), torch.no_grad():
        data = model.data_preprocessor(
            dict(inputs=inputs, data_samples=samples), False)
        results = model.predict(data['inputs'], data['data_samples'])
    assert len(results) == 2
    if scope == 'mmdet':
        assert hasattr(results[0], 'pred_instances')
    else:
        assert results[0].pred_sem_seg.data.shape == (1, 128, 128)


@pytest.mark.parametrize(
    'config,scope,batch',
    [('configs/mask_rcnn_attentionvig_s_coco.py', 'mmdet', det_batch),
     ('configs/fpn_attentionvig_s_ade20k.py', 'mmseg', seg_batch),
     ('configs/mask_rcnn_sagvit_small_coco.py', 'mmdet', det_batch)])
@pytest.mark.long
def test_frozen_stages_with_the_downstream_configs(config, scope, batch):
    """frozen_stages=1 keeps the stem and stage 1 as they were (weights and
    statistics) and trains the rest."""
    cfg = read_config(config)
    model = build_model(cfg, scope, frozen_stages=1, drop_path_rate=0.)
    frozen, trained = model.backbone._frozen()[0], []
    frozen_ids = {id(p) for m in frozen for p in m.parameters()}
    before = _params(model.backbone)
    stats, _ = _norm_state(model.backbone)
    train_step(cfg, model, scope, *batch())
    after = _params(model.backbone)
    for name, p in model.backbone.named_parameters():
        if id(p) in frozen_ids:
            assert not p.requires_grad and torch.equal(before[name], p), name
        elif not torch.equal(before[name], after[name]):
            trained.append(name)
    assert frozen_ids and len(trained) > 0.9 * (len(before) - len(frozen_ids))
    assert all(
        torch.equal(v,
                    _norm_state(model.backbone)[0][k])
        for k, v in stats.items())


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'configs/mask_rcnn_attentionvig_s_coco.py',
    'configs/mask_rcnn_sagvit_small_coco.py'
])
def test_mask_rcnn_forward_at_1333x800(config):
    from mmdet.testing import demo_mm_inputs
    cfg = read_config(config)
    model = build_model(cfg, 'mmdet').eval()
    packed = demo_mm_inputs(1, [[3, 800, 1333]], num_items=[3], with_mask=True)
    with DefaultScope.overwrite_default_scope('mmdet'), torch.no_grad():
        data = model.data_preprocessor(packed, False)
        feats = model.extract_feat(data['inputs'])
        results = model.predict(data['inputs'], data['data_samples'])
    assert [tuple(f.shape[-2:]) for f in feats[:4]] == [(200, 336), (100, 168),
                                                        (50, 84), (25, 42)]
    assert hasattr(results[0], 'pred_instances')


def test_freeze_beta_hook_fails_loudly_without_temperatures():

    class FakeRunner:
        model = torch.nn.Linear(2, 2)

    with pytest.raises(RuntimeError, match='no attention temperature'):
        FreezeBetaHook().before_run(FakeRunner())


def tiny_seg_config(data_root: str, work_dir: str, iters: int) -> Config:
    cfg = read_config('configs/demo/fpn_attentionvig_s_scenes.py')
    cfg.work_dir = work_dir
    cfg.model.backbone.arch = TINY
    cfg.model.backbone.pop('init_cfg')
    cfg.model.neck.in_channels = TINY['widths']
    cfg.model.data_preprocessor.size = (96, 128)
    use_small_loaders(cfg, data_root, batch_size=2)
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0)]
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', by_epoch=False, interval=2)
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    return cfg


def test_beta_frozen_through_training_and_resume(scenes, tmp_path):
    cfg = tiny_seg_config(scenes, str(tmp_path / 'run'), iters=2)
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    betas = {
        n: p.detach().clone()
        for n, p in temperature_parameters(runner.model)
    }
    others = {
        n: p.detach().clone()
        for n, p in runner.model.named_parameters()
        if n not in betas and p.requires_grad
    }
    runner.train()
    after = dict(temperature_parameters(runner.model))
    assert betas and all(torch.equal(betas[n], after[n]) for n in betas)
    changed = [
        n for n, p in runner.model.named_parameters()
        if n in others and not torch.equal(p, others[n])
    ]
    assert len(changed) > 0.9 * len(others)

    cfg.train_cfg.max_iters = 4
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.iter == 4
    final = dict(temperature_parameters(resumed.model))
    assert all(torch.equal(betas[n], final[n]) for n in betas)


def test_beta_trains_without_the_hook(scenes, tmp_path):
    cfg = tiny_seg_config(scenes, str(tmp_path / 'run'), iters=2)
    cfg.custom_hooks = []
    runner = Runner.from_cfg(cfg)
    betas = {
        n: p.detach().clone()
        for n, p in temperature_parameters(runner.model)
    }
    runner.train()
    after = dict(temperature_parameters(runner.model))
    assert any(not torch.equal(betas[n], after[n]) for n in betas)


def test_missing_annotation_file_fails_before_training(scenes, tmp_path):
    cfg = read_config('configs/demo/mask_rcnn_attentionvig_s_scenes.py')
    cfg.train_dataloader.dataset.data_root = scenes
    cfg.val_dataloader.dataset.data_root = scenes
    cfg.train_dataloader.dataset.ann_file = 'annotations/missing.json'
    with pytest.raises(
            FileNotFoundError,
            match=r'train_dataloader\.dataset\.ann_file.*missing'):
        check_data_paths(cfg)
    cfg = read_config('configs/mask_rcnn_attentionvig_s_coco.py')
    with pytest.raises(FileNotFoundError, match='data/coco'):
        check_data_paths(cfg)


def test_missing_pretrained_checkpoint_is_named(tmp_path):
    from tools.tool_utils import check_checkpoints
    cfg = read_config('configs/mask_rcnn_attentionvig_s_coco.py')
    with pytest.raises(
            FileNotFoundError, match='checkpoints/attentionvig_s_in1k.pth'):
        check_checkpoints(cfg)


LINEAGE_CONFIGS = sorted(
    glob.glob('configs/greedyvig/mask_rcnn_*.py') +
    glob.glob('configs/greedyvig/fpn_*.py') +
    glob.glob('configs/mobilevig/mask_rcnn_*.py') +
    glob.glob('configs/adaptvig/mask_rcnn_*.py') +
    glob.glob('configs/adaptvig/fpn_*.py'))


def test_lineage_configs_follow_the_authors():
    """GreedyViG's, MobileViG's and AdaptViG's Mask R-CNN and Semantic FPN:
    the authors'
    optimisers and schedules, SyncBN with training statistics, the converted
    ImageNet checkpoint of the same size."""
    assert [osp.basename(c) for c in LINEAGE_CONFIGS] == [
        'fpn_adaptvig_b_ade20k.py', 'fpn_adaptvig_m_ade20k.py',
        'mask_rcnn_adaptvig_b_coco.py', 'mask_rcnn_adaptvig_m_coco.py',
        'fpn_greedyvig_b_ade20k.py', 'fpn_greedyvig_s_ade20k.py',
        'mask_rcnn_greedyvig_b_coco.py', 'mask_rcnn_greedyvig_s_coco.py',
        'mask_rcnn_mobilevig_b_coco.py', 'mask_rcnn_mobilevig_m_coco.py'
    ]
    for config in LINEAGE_CONFIGS:
        cfg = read_config(config)
        family, size = osp.basename(config).split('_')[-3:-1]
        backbone = cfg.model.backbone
        assert backbone.type.lower() == family and backbone.arch == size
        assert backbone.norm_cfg.type == 'SyncBN' and not backbone.norm_eval
        assert backbone.init_cfg.checkpoint == \
            f'checkpoints/{family}_{size}_in1k.pth'
        optimizer = cfg.optim_wrapper.optimizer
        assert (optimizer.type, optimizer.lr) == ('AdamW', 2e-4)
        if 'mask_rcnn' in config:
            # the authors' MobileViG-B and AdaptViG-M configs decay by 1e-4
            assert optimizer.weight_decay == (1e-4 if config.endswith(
                ('mobilevig_b_coco.py', 'adaptvig_m_coco.py')) else 0.05)
            assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 1.0
            assert cfg.train_cfg.max_epochs == 12
        else:
            assert optimizer.weight_decay == 1e-4
            assert cfg.train_cfg.max_iters == 40000


@pytest.mark.parametrize('config', [
    'configs/greedyvig/fpn_greedyvig_s_ade20k.py',
    'configs/greedyvig/mask_rcnn_greedyvig_s_coco.py',
    'configs/mobilevig/mask_rcnn_mobilevig_m_coco.py',
    'configs/adaptvig/fpn_adaptvig_m_ade20k.py'
])
@pytest.mark.long
def test_lineage_configs_train_their_statistics_and_predict(config):
    """A training step (one process: SyncBN normalises by the batch) moves
    the backbone's running statistics, and the model predicts."""
    scope = 'mmdet' if 'mask_rcnn' in config else 'mmseg'
    batch = det_batch if scope == 'mmdet' else seg_batch
    cfg = read_config(config)
    model = build_model(cfg, scope, drop_path_rate=0.)
    stats, _ = _norm_state(model.backbone)
    train_step(cfg, model, scope, *batch())
    moved, _ = _norm_state(model.backbone)
    assert all(not torch.equal(stats[n], moved[n]) for n in stats)
    model.eval()
    inputs, samples = batch()
    with DefaultScope.overwrite_default_scope(scope), torch.no_grad():
        data = model.data_preprocessor(
            dict(inputs=inputs, data_samples=samples), False)
        assert len(model.predict(data['inputs'], data['data_samples'])) == 2
