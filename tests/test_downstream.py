"""COCO / ADE20K configs, the frozen-beta hook, and resume on generated scenes."""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import mmvig  # noqa: F401
from mmvig.datasets import check_data_paths
from mmvig.engine import FreezeBetaHook, temperature_parameters
from helpers import TINY, use_small_loaders

DET_CONFIGS = sorted(glob.glob('configs/mask_rcnn_*_coco*.py'))
SEG_CONFIGS = sorted(glob.glob('configs/fpn_*_ade20k*.py'))


def build_model(cfg: Config, scope: str):
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.norm_cfg = dict(type='BN', requires_grad=True)
    model_cfg.backbone.pop('init_cfg')
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(model_cfg)


def test_configs_exist_and_follow_the_paper():
    assert [osp.basename(c) for c in DET_CONFIGS] == [
        'mask_rcnn_attentionvig_b_coco.py', 'mask_rcnn_attentionvig_m_coco.py',
        'mask_rcnn_attentionvig_s_coco.py',
        'mask_rcnn_attentionvig_s_coco_beta_trainable.py',
        'mask_rcnn_sagvit_base_coco.py', 'mask_rcnn_sagvit_small_coco.py']
    assert [osp.basename(c) for c in SEG_CONFIGS] == [
        'fpn_attentionvig_b_ade20k.py', 'fpn_attentionvig_m_ade20k.py',
        'fpn_attentionvig_s_ade20k.py',
        'fpn_attentionvig_s_ade20k_beta_trainable.py',
        'fpn_sagvit_base_ade20k.py', 'fpn_sagvit_small_ade20k.py']
    det = Config.fromfile('configs/mask_rcnn_attentionvig_b_coco.py')
    assert det.train_cfg.max_epochs == 12
    assert det.param_scheduler[1].milestones == [8, 11]
    assert det.optim_wrapper.optimizer.type == 'AdamW'
    assert det.optim_wrapper.optimizer.lr == 2e-4
    assert det.optim_wrapper.optimizer.weight_decay == 0.05
    assert det.train_dataloader.batch_size * 8 == det.auto_scale_lr.base_batch_size == 16
    assert det.train_pipeline[2].scale == (1333, 800)
    assert det.model.neck.in_channels == [64, 128, 256, 512]
    assert det.model.backbone.init_cfg.checkpoint.endswith('_b_in1k.pth')
    assert det.val_evaluator.metric == ['bbox', 'segm']
    assert det.custom_hooks == [dict(type='FreezeBetaHook')]
    seg = Config.fromfile('configs/fpn_attentionvig_m_ade20k.py')
    assert seg.train_cfg.max_iters == 40000
    assert seg.train_dataloader.batch_size * 8 == seg.auto_scale_lr.base_batch_size == 32
    assert seg.optim_wrapper.optimizer.lr == 2e-4
    assert seg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert seg.param_scheduler[0].power == 0.9
    assert seg.crop_size == (512, 512)
    assert seg.model.decode_head.num_classes == 150
    assert seg.model.neck.in_channels == [56, 112, 224, 448]
    assert seg.val_evaluator.iou_metrics == ['mIoU']
    assert seg.custom_hooks == [dict(type='FreezeBetaHook')]
    for trainable in ('configs/mask_rcnn_attentionvig_s_coco_beta_trainable.py',
                      'configs/fpn_attentionvig_s_ade20k_beta_trainable.py'):
        assert Config.fromfile(trainable).custom_hooks == []
    # SAG-ViT trains on the same recipes (without temperatures to freeze).
    for sagvit, reference in (('configs/mask_rcnn_sagvit_base_coco.py', det),
                              ('configs/fpn_sagvit_small_ade20k.py', seg)):
        cfg = Config.fromfile(sagvit)
        assert cfg.optim_wrapper.optimizer == reference.optim_wrapper.optimizer
        for key in ('auto_scale_lr', 'param_scheduler', 'train_cfg',
                    'train_pipeline'):
            assert cfg[key] == reference[key], key


@pytest.mark.parametrize('config', DET_CONFIGS)
def test_mask_rcnn_configs_loss_and_predict(config):
    from mmdet.testing import demo_mm_inputs
    cfg = Config.fromfile(config)
    model = build_model(cfg, 'mmdet')
    assert model.backbone.out_channels == cfg.model.neck.in_channels
    packed = demo_mm_inputs(2, [[3, 128, 160], [3, 96, 128]], num_items=[2, 1],
                            with_mask=True)
    with DefaultScope.overwrite_default_scope('mmdet'):
        data = model.data_preprocessor(packed, True)
        losses = model.loss(data['inputs'], data['data_samples'])
        assert {'loss_rpn_cls', 'loss_cls', 'loss_mask'} <= set(losses)
        model.eval()
        with torch.no_grad():
            data = model.data_preprocessor(packed, False)
            results = model.predict(data['inputs'], data['data_samples'])
    assert len(results) == 2 and hasattr(results[0], 'pred_instances')


@pytest.mark.parametrize('config', SEG_CONFIGS)
def test_semantic_fpn_configs_loss_and_predict(config):
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
    cfg = Config.fromfile(config)
    model = build_model(cfg, 'mmseg')
    assert model.backbone.out_channels == cfg.model.neck.in_channels
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(
            img_shape=(128, 128), ori_shape=(128, 128), pad_shape=(128, 128)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 150, (1, 128, 128)))
        samples.append(sample)
    inputs = torch.randn(2, 3, 128, 128)
    with DefaultScope.overwrite_default_scope('mmseg'):
        losses = model.loss(inputs, samples)
        assert 'decode.loss_ce' in losses
        model.eval()
        with torch.no_grad():
            results = model.predict(inputs, samples)
    assert results[0].pred_sem_seg.data.shape == (1, 128, 128)


@pytest.mark.slow
@pytest.mark.parametrize('config', ['configs/mask_rcnn_attentionvig_s_coco.py',
                                    'configs/mask_rcnn_sagvit_small_coco.py'])
def test_mask_rcnn_forward_at_1333x800(config):
    from mmdet.testing import demo_mm_inputs
    cfg = Config.fromfile(config)
    model = build_model(cfg, 'mmdet').eval()
    packed = demo_mm_inputs(1, [[3, 800, 1333]], num_items=[3],
                            with_mask=True)
    with DefaultScope.overwrite_default_scope('mmdet'), torch.no_grad():
        data = model.data_preprocessor(packed, False)
        feats = model.extract_feat(data['inputs'])
        results = model.predict(data['inputs'], data['data_samples'])
    assert [tuple(f.shape[-2:]) for f in feats[:4]] == [
        (200, 336), (100, 168), (50, 84), (25, 42)]
    assert hasattr(results[0], 'pred_instances')


def test_freeze_beta_hook_fails_loudly_without_temperatures():
    class FakeRunner:
        model = torch.nn.Linear(2, 2)

    with pytest.raises(RuntimeError, match='no attention temperature'):
        FreezeBetaHook().before_run(FakeRunner())


def tiny_seg_config(data_root: str, work_dir: str, iters: int) -> Config:
    cfg = Config.fromfile('configs/demo/fpn_attentionvig_s_scenes.py')
    cfg.work_dir = work_dir
    cfg.model.backbone.arch = TINY
    cfg.model.backbone.pop('init_cfg')
    cfg.model.neck.in_channels = TINY['widths']
    cfg.model.data_preprocessor.size = (96, 128)
    use_small_loaders(cfg, data_root, batch_size=2)
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False,
                                        interval=2)
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    return cfg


def test_beta_frozen_through_training_and_resume(scenes, tmp_path):
    cfg = tiny_seg_config(scenes, str(tmp_path / 'run'), iters=2)
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    betas = {n: p.detach().clone()
             for n, p in temperature_parameters(runner.model)}
    others = {n: p.detach().clone()
              for n, p in runner.model.named_parameters()
              if n not in betas and p.requires_grad}
    runner.train()
    after = dict(temperature_parameters(runner.model))
    assert betas and all(torch.equal(betas[n], after[n]) for n in betas)
    changed = [n for n, p in runner.model.named_parameters()
               if n in others and not torch.equal(p, others[n])]
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
    betas = {n: p.detach().clone()
             for n, p in temperature_parameters(runner.model)}
    runner.train()
    after = dict(temperature_parameters(runner.model))
    assert any(not torch.equal(betas[n], after[n]) for n in betas)


def test_missing_annotation_file_fails_before_training(scenes, tmp_path):
    cfg = Config.fromfile('configs/demo/mask_rcnn_attentionvig_s_scenes.py')
    cfg.train_dataloader.dataset.data_root = scenes
    cfg.val_dataloader.dataset.data_root = scenes
    cfg.train_dataloader.dataset.ann_file = 'annotations/missing.json'
    with pytest.raises(FileNotFoundError,
                       match=r'train_dataloader\.dataset\.ann_file.*missing'):
        check_data_paths(cfg)
    cfg = Config.fromfile('configs/mask_rcnn_attentionvig_s_coco.py')
    with pytest.raises(FileNotFoundError, match='data/coco'):
        check_data_paths(cfg)


def test_missing_pretrained_checkpoint_is_named(tmp_path):
    from mmvig.datasets import check_checkpoints
    cfg = Config.fromfile('configs/mask_rcnn_attentionvig_s_coco.py')
    with pytest.raises(FileNotFoundError,
                       match='checkpoints/attentionvig_s_in1k.pth'):
        check_checkpoints(cfg)
