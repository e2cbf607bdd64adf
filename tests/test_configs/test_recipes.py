"""The ImageNet recipes, Table 3's ablations inside vanilla ViG-Ti, and the
beta printout against Table 8."""
import copy
import csv
import glob
import io
import os.path as osp
import textwrap

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import mmvig  # noqa: F401
from mmvig import AttentionViG
from mmvig.apis import read_config
from mmvig.engine import temperature_parameters
from mmvig.safe_load import read_checkpoint
from mmvig.testing import (TINY, logged_messages, run_python, run_tool,
                           use_small_loaders)


def test_scoped_base_configs_resolve():
    cfg = read_config('configs/attentionvig_s_in1k.py')
    assert cfg.train_dataloader.dataset.type == 'ImageNet'


IMAGENET_CONFIGS = [f'configs/attentionvig_{a}_in1k.py' for a in 'smb']

IMAGENET_ABLATIONS = sorted(glob.glob('configs/ablations/attentionvig_*.py'))

TABLE3 = {
    f'configs/ablations/vig_ti_in1k_{name}.py': conv
    for name, conv in (('gin', 'gin'), ('maxrelative', 'mr'),
                       ('graphsage', 'sage'), ('edgeconv', 'edge'),
                       ('cross_attention', 'cross_attention'))
}


def test_imagenet_configs_follow_the_lineage_recipe():
    for config in IMAGENET_CONFIGS:
        cfg = read_config(config)
        assert cfg.train_cfg.max_epochs == 300
        assert cfg.optim_wrapper.optimizer.type == 'AdamW'
        assert cfg.optim_wrapper.optimizer.lr == 2e-3
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
        assert cfg.auto_scale_lr.base_batch_size == 2048
        assert cfg.train_dataloader.batch_size * 8 == 2048
        warmup, cosine = cfg.param_scheduler
        assert warmup.type == 'LinearLR' and warmup.end == 20
        assert warmup.start_factor * cfg.optim_wrapper.optimizer.lr == \
            pytest.approx(1e-6)
        assert cosine.type == 'CosineAnnealingLR' and cosine.begin == 20
        assert cosine.eta_min == 1e-5
        divergence, ema = cfg.custom_hooks
        assert divergence.type == 'DivergenceHook'
        assert ema.type == 'EMAHook' and ema.update_buffers
        assert 1 - ema.momentum == pytest.approx(0.99996)
        assert cfg.train_dataloader.sampler == dict(
            type='RepeatAugSampler', num_repeats=3, shuffle=True)
        resize, crop = cfg.test_dataloader.dataset.pipeline[1:3]
        assert resize.scale == 248 and crop.crop_size == 224  # ratio 0.9
        assert cfg.sync_bn == 'torch'
        assert cfg.model.backbone.drop_path_rate == 0.1
        keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
        assert keys['.layer_scale'].decay_mult == keys[
            '.log_beta'].decay_mult == 0
        assert cfg.model.teacher.model_name == 'regnety_160.deit_in1k'


def classifier_step_config(config: str) -> Config:
    """The config as it runs on a CPU without network: no teacher download,
    no AMP (CUDA only in mmengine)."""
    cfg = read_config(config)
    cfg.model.teacher = None
    cfg.optim_wrapper.type = 'OptimWrapper'
    cfg.optim_wrapper.pop('loss_scale')
    return cfg


@pytest.mark.parametrize('config', IMAGENET_ABLATIONS)
def test_imagenet_ablation_configs_train_one_step(config):
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    cfg = classifier_step_config(config)
    cfg.model.data_preprocessor = cfg.data_preprocessor  # as the Runner does
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    inputs = [
        torch.randint(0, 256, (3, 96, 96), dtype=torch.uint8) for _ in range(4)
    ]
    samples = [DataSample().set_gt_label(i) for i in range(4)]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        data = model.data_preprocessor(
            dict(inputs=inputs, data_samples=samples), True)
        loss, _ = model.parse_losses(model.loss(**data))
        optim_wrapper.update_params(loss)
    assert torch.isfinite(loss)
    moved = [
        n for n, p in model.named_parameters()
        if not torch.equal(before[n], p)
    ]
    assert len(moved) > 0.9 * len(before)


def use_generated_images(cfg: Config, shapes: str, batch_size: int) -> None:
    """An ImageNet config's loaders on the generated shapes (a folder per
    class: mmpretrain's CustomDataset), with the config's pipelines."""
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset = dict(
            type='CustomDataset',
            data_root=shapes,
            data_prefix='train' if split == 'train' else 'val',
            pipeline=loader.dataset.pipeline)
    use_small_loaders(cfg, shapes, batch_size=batch_size)


def print_beta(*args) -> str:
    return run_tool('tools/analysis/print_beta.py', *args, timeout=300)


def check_printed_betas(checkpoint: str, model: torch.nn.Module) -> None:
    """print_beta's CSV holds the model's temperatures, in order."""
    rows = list(csv.DictReader(io.StringIO(print_beta(checkpoint, '--csv'))))
    expected = list(temperature_parameters(model))
    assert len(rows) == len(expected) > 0
    for row, (name, param) in zip(rows, expected):
        assert row['key'].endswith(name)
        assert float(row['beta']) == pytest.approx(
            param.exp().item(), rel=1e-5)
    stages = [int(r['stage']) for r in rows]
    assert stages == sorted(stages) and set(stages) <= {1, 2, 3, 4}


@pytest.mark.slow
def test_imagenet_recipe_trains_and_downstream_starts_from_ema(
        shapes, tmp_path):
    """The -S ImageNet config (EMA hook, repeated augmentation, warmup and
    cosine, Mixup/CutMix, both heads) trains on generated images; its
    checkpoint holds EMA weights, which a downstream backbone loads and
    names in the log; print_beta reads the checkpoint."""
    cfg = classifier_step_config('configs/attentionvig_s_in1k.py')
    cfg.work_dir = str(tmp_path / 'in1k')
    use_generated_images(cfg, shapes, batch_size=6)
    # The schedule in miniature: one warmup epoch, one cosine epoch.
    cfg.train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=2)
    cfg.param_scheduler[0].end = cfg.param_scheduler[1].begin = 1
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    assert type(runner.train_dataloader.sampler).__name__ == \
        'RepeatAugSampler'
    runner.train()
    assert runner.iter >= 6

    ckpt_path = osp.join(cfg.work_dir, 'epoch_2.pth')
    ckpt = read_checkpoint(ckpt_path)
    ema = {
        k[len('backbone.'):]: v
        for k, v in ckpt['state_dict'].items() if k.startswith('backbone.')
    }
    raw = {
        k[len('module.backbone.'):]: v
        for k, v in ckpt['ema_state_dict'].items()
        if k.startswith('module.backbone.')
    }
    assert set(ema) == set(raw)
    assert any(not torch.equal(ema[k], raw[k]) for k in ema)

    det = read_config('configs/mask_rcnn_attentionvig_s_coco.py')
    backbone_cfg = copy.deepcopy(det.model.backbone)
    backbone_cfg.pop('type')
    backbone_cfg.init_cfg.checkpoint = ckpt_path
    backbone = AttentionViG(**backbone_cfg)
    with logged_messages() as messages:
        backbone.init_weights()
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, ema[key]), key
    assert any(ckpt_path in m and 'EMA weights' in m
               for m in messages), messages

    raw_backbone = AttentionViG(**dict(
        backbone_cfg, init_cfg=dict(backbone_cfg.init_cfg, weights='raw')))
    raw_backbone.init_weights()
    for key, value in raw_backbone.state_dict().items():
        assert torch.equal(value, raw[key]), key

    classifier = copy.deepcopy(runner.model)
    classifier.load_state_dict(ckpt['state_dict'])
    check_printed_betas(ckpt_path, classifier)
    assert 'the EMA weights' in print_beta(ckpt_path)


@pytest.mark.slow
def test_print_beta_reads_detector_and_segmentor_checkpoints(scenes, tmp_path):
    runs = [('configs/demo/mask_rcnn_attentionvig_s_scenes.py', 'epoch_1'),
            ('configs/demo/fpn_attentionvig_s_scenes.py', 'iter_2')]
    for config, name in runs:
        cfg = read_config(config)
        cfg.work_dir = str(tmp_path / name)
        cfg.model.backbone.arch = TINY
        cfg.model.backbone.pop('init_cfg')
        cfg.model.neck.in_channels = TINY['widths']
        use_small_loaders(cfg, scenes, batch_size=2)
        if name == 'epoch_1':
            cfg.train_cfg = dict(
                type='EpochBasedTrainLoop', max_epochs=1, val_interval=10)
            cfg.val_evaluator.ann_file = osp.join(scenes, 'annotations',
                                                  'instances_val.json')
        else:
            cfg.model.data_preprocessor.size = (96, 128)
            cfg.train_cfg = dict(
                type='IterBasedTrainLoop', max_iters=2, val_interval=10)
            cfg.default_hooks.checkpoint = dict(
                type='CheckpointHook', by_epoch=False, interval=2)
        cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0)]
        cfg.custom_hooks = []  # beta trains, so each checkpoint differs
        cfg.log_level = 'WARNING'
        runner = Runner.from_cfg(cfg)
        runner.train()
        check_printed_betas(
            osp.join(cfg.work_dir, f'{name}.pth'), runner.model)


def test_table3_configs_differ_in_the_aggregation_only():
    """Vanilla ViG-Ti (mmpretrain's model) with ViG's own recipe; the five
    rows of Table 3 change the graph conv and nothing else."""
    assert sorted(glob.glob('configs/ablations/vig_ti_*.py')) == sorted(TABLE3)
    rest = []
    for config, conv in TABLE3.items():
        cfg = read_config(config)
        backbone = cfg.model.backbone
        assert backbone.pop('graph_conv_type') == conv
        assert backbone.pop('type') == ('CrossAttentionVig' if conv
                                        == 'cross_attention' else 'Vig')
        assert backbone.arch == 'tiny' and backbone.k == 9
        cfg.optim_wrapper.paramwise_cfg.custom_keys.pop('.log_beta', None)
        rest.append(cfg.to_dict())
        assert cfg.train_cfg.max_epochs == 300
        optimizer = cfg.optim_wrapper.optimizer
        assert (optimizer.type, optimizer.lr, optimizer.weight_decay,
                optimizer.eps) == ('AdamW', 2e-3, 0.05, 1e-8)
        assert cfg.auto_scale_lr.base_batch_size == \
            8 * cfg.train_dataloader.batch_size == 1024
        warmup, cosine = cfg.param_scheduler
        assert warmup.end == cosine.begin == 20
        assert warmup.start_factor * optimizer.lr == pytest.approx(1e-6)
        assert [h.type
                for h in cfg.custom_hooks] == ['DivergenceHook', 'EMAHook']
        assert 1 - cfg.custom_hooks[1].momentum == pytest.approx(0.99996)
        assert cfg.train_dataloader.sampler.type == 'RepeatAugSampler'
        assert [a.type
                for a in cfg.model.train_cfg.augments] == ['Mixup', 'CutMix']
    assert all(r == rest[0] for r in rest[1:])


def test_cross_attention_on_the_knn_graph_trains_every_part():
    """Gradients reach log_beta and the q, k and v projections of every
    Grapher of vanilla ViG-Ti with cross-attention."""
    from mmvig.models.vig_cross_attention import (CrossAttentionGraphConv,
                                                  CrossAttentionVig)
    torch.manual_seed(0)
    model = CrossAttentionVig('tiny', drop_path=0.1)
    convs = [
        m for m in model.modules() if isinstance(m, CrossAttentionGraphConv)
    ]
    assert len(convs) == 12
    out = model(torch.randn(2, 3, 224, 224))[-1]
    (out * torch.randn_like(out)).sum().backward()
    for conv in convs:
        assert conv.log_beta.grad is not None and conv.log_beta.grad != 0
        for part in conv.qkv.weight.grad.chunk(3):  # q, k, v
            assert part.abs().sum() > 0


@pytest.mark.slow
@pytest.mark.parametrize('config', sorted(TABLE3))
def test_table3_configs_train_on_generated_data(config, shapes, tmp_path):
    cfg = read_config(config)
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP is CUDA-only in mmengine
    cfg.optim_wrapper.pop('loss_scale')
    cfg.work_dir = str(tmp_path / 'work')
    use_generated_images(cfg, shapes, batch_size=4)
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=2, val_interval=2)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=2, by_epoch=False)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    before = {
        n: p.detach().clone()
        for n, p in runner.model.named_parameters()
    }
    runner.train()
    assert runner.iter == 2
    moved = [
        n for n, p in runner.model.named_parameters()
        if not torch.equal(before[n], p)
    ]
    assert len(moved) > 0.9 * len(before)
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_2.pth'))


@pytest.mark.long
def test_print_beta_compares_with_table8(tmp_path):
    """--compare-paper: the paper's Table 8 beside an AttentionViG-S
    checkpoint's betas, row by row; another layout is refused."""
    import math
    model = AttentionViG('s')
    betas = {}
    for i, (name, param) in enumerate(temperature_parameters(model)):
        param.data.fill_(math.log(2.0 + i))
        betas[name] = 2.0 + i
    path = str(tmp_path / 's.pth')
    torch.save(
        {
            'state_dict': {
                f'backbone.{k}': v
                for k, v in model.state_dict().items()
            }
        }, path)
    rows = list(
        csv.DictReader(
            io.StringIO(print_beta(path, '--compare-paper', '--csv'))))
    paper = [6.79, 29.88, 23.72, 10.96, 6.63, 7.08, 5.33, 4.92]
    assert [float(r['paper_beta']) for r in rows] == paper
    assert [float(r['beta'])
            for r in rows] == pytest.approx(list(betas.values()))
    table = print_beta(path, '--compare-paper')
    assert '29.88' in table and 'paper (Table 8)' in table
    tiny = str(tmp_path / 'tiny.pth')
    torch.save({'state_dict': AttentionViG(TINY).state_dict()}, tiny)
    result = run_python(
        'tools/analysis/print_beta.py', tiny, '--compare-paper', timeout=300)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert "needs AttentionViG-S's layout" in result.stderr


@pytest.mark.long
def test_an_unreachable_teacher_fails_fast_and_says_what_to_do(tmp_path):
    """No weights in the caches and no hub (an endpoint nothing listens
    on, so no network is needed): the build stops within seconds, naming
    the teacher and both ways out; HF_HUB_OFFLINE unset."""
    import time
    env = dict(
        HF_HUB_OFFLINE=None,
        HF_HOME=str(tmp_path / 'hf'),
        HF_ENDPOINT='http://127.0.0.1:9',
        TORCH_HOME=str(tmp_path / 'torch'))
    code = textwrap.dedent("""
        import time
        import mmvig
        from mmvig.apis import read_config
        from mmengine.registry import DefaultScope
        from mmpretrain.registry import MODELS
        cfg = read_config('configs/attentionvig_s_in1k.py')
        start = time.perf_counter()
        try:
            with DefaultScope.overwrite_default_scope('mmpretrain'):
                MODELS.build(cfg.model)
        except mmvig.errors.InputError as error:
            print(f'seconds: {time.perf_counter() - start:.2f}')
            print(f'error: {error}')
        """)
    started = time.perf_counter()
    output = run_tool('-c', code, env=env, timeout=300)
    seconds = output.split('seconds: ')[1].split()[0]
    message = output.split('error: ', 1)[1]
    # timm alone retries for ~50 s; the build itself takes a few seconds
    assert float(seconds) < 30, seconds
    assert "'regnety_160.deit_in1k'" in message
    assert 'model.teacher.pretrained_cfg_overlay.file=PATH' in message
    assert 'model.teacher=None' in message
    assert time.perf_counter() - started < 120


def test_a_missing_teacher_weights_file_is_named(tmp_path):
    from mmvig.models.distillation import check_teacher_weights
    missing = str(tmp_path / 'regnety_160.pth')
    with pytest.raises(FileNotFoundError, match=missing):
        check_teacher_weights(
            dict(
                type='TimmClassifier',
                model_name='regnety_160.deit_in1k',
                pretrained=True,
                pretrained_cfg_overlay=dict(file=missing)))
