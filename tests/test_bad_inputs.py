"""Every bad argument, file and annotation mmvig knows of, with the error it
must give: raised where the mistake is made (construction, loading, the
pre-flight checks), naming the argument, file or image."""
import json
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmvig
from mmvig.checkpoint import CheckpointFileError, load_checkpoint_file
from mmvig.datasets import check_data_paths, check_instance_masks
from mmvig.errors import InputError
from mmvig.models.checkpoint import CheckpointMismatchError, select_weights
from helpers import SAG_TINY, TINY


def attention_vig(**kwargs):
    return lambda: mmvig.AttentionViG(TINY, **kwargs)


def cross_attention(**kwargs):
    return attention_vig(aggregator=dict(type='CrossAttention', **kwargs))


def forward(size):
    return lambda: mmvig.AttentionViG('s')(torch.randn(1, 3, *size))


CONSTRUCTION = [
    ('unknown arch', lambda: mmvig.AttentionViG('xl'),
     "Unknown AttentionViG arch 'xl'"),
    ('graph_strides=0', attention_vig(graph_strides=0),
     'graph_strides must be positive integers.*got 0'),
    ('graph_strides=-1', attention_vig(graph_strides=-1),
     'graph_strides must be positive integers.*got -1'),
    ('graph_strides=2.5', attention_vig(graph_strides=2.5),
     'graph_strides must be positive integers.*got 2.5'),
    ('max_shifts=0', attention_vig(max_shifts=0),
     'max_shifts must be None or positive integers.*got 0'),
    ('num_heads=0', cross_attention(num_heads=0),
     'num_heads must be a positive integer, got 0'),
    ('num_heads=-8', cross_attention(num_heads=-8),
     'num_heads must be a positive integer, got -8'),
    ('num_heads not dividing', cross_attention(num_heads=5),
     'num_heads=5 must divide the 16 channels'),
    ('num_heads and head_dim', cross_attention(num_heads=2, head_dim=8),
     'num_heads or head_dim, not both'),
    ('out_indices=()', attention_vig(out_indices=()), 'out_indices is empty'),
    ('drop_path_rate=1.5', attention_vig(drop_path_rate=1.5),
     r'drop_path_rate must be in \[0, 1\), got 1.5'),
    ('SAG-ViT drop_path_rate=-0.1',
     lambda: mmvig.SAGViT(SAG_TINY, drop_path_rate=-0.1),
     r'drop_path_rate must be in \[0, 1\), got -0.1'),
    ('init_beta too large', cross_attention(init_beta=1e5),
     r'init_beta must lie in \[4.54e-05, 2.2e\+04\].*got 100000.0'),
    ('init_beta too small', cross_attention(init_beta=1e-6),
     r'init_beta must lie in .*got 1e-06'),
    ('unknown aggregator', attention_vig(aggregator=dict(type='MaxPool')),
     "Unknown aggregator 'MaxPool'"),
    ('input 32x32', forward((32, 32)),
     'stage 3 would be a 2x2 map.*at least 65 pixels'),
    ('input 33x33', forward((33, 33)),
     'stage 4 would be a 2x2 map.*at least 65 pixels'),
]


@pytest.mark.parametrize('build,message', [c[1:] for c in CONSTRUCTION],
                         ids=[c[0] for c in CONSTRUCTION])
def test_bad_arguments(build, message):
    with pytest.raises(InputError, match=message):
        build()


def test_the_smallest_input_the_message_names_works():
    with torch.no_grad():
        mmvig.AttentionViG('s').eval()(torch.randn(1, 3, 65, 40))


@pytest.fixture
def files(tmp_path):
    """Files that are not checkpoints, and checkpoints with a bad value."""
    paths = {}
    for seed in range(3):  # garbage makes the unpickler fail in many ways
        paths[f'random bytes {seed}'] = tmp_path / f'random{seed}.pth'
        paths[f'random bytes {seed}'].write_bytes(torch.randint(
            0, 256, (4096, ), dtype=torch.uint8,
            generator=torch.Generator().manual_seed(seed)).numpy().tobytes())
    paths['text'] = tmp_path / 'notes.pth'
    paths['text'].write_text('not a checkpoint\n')
    paths['empty'] = tmp_path / 'empty.pth'
    paths['empty'].write_bytes(b'')
    state = mmvig.AttentionViG(TINY).state_dict()
    for name, value in (('NaN log_beta', math.nan),
                        ('inf log_beta', math.inf)):
        bad = dict(state)
        bad['stages.1.2.aggregate.branch.log_beta'] = torch.tensor(value)
        paths[name] = tmp_path / f'{name.split()[0]}.pth'
        torch.save({'state_dict': bad}, paths[name])
    other = mmvig.AttentionViG(dict(TINY, widths=[16, 32, 64, 256]))
    paths['another arch'] = tmp_path / 'other.pth'
    torch.save({'state_dict': other.state_dict()}, paths['another arch'])
    return {k: str(v) for k, v in paths.items()}


@pytest.mark.parametrize('name', ['random bytes 0', 'random bytes 1',
                                  'random bytes 2', 'text', 'empty'])
def test_non_checkpoint_files_name_the_file(files, name):
    with pytest.raises(CheckpointFileError,
                       match=f'{files[name]} is not a readable checkpoint'):
        load_checkpoint_file(files[name])
    backbone = mmvig.AttentionViG(TINY, init_cfg=dict(
        type='Pretrained', checkpoint=files[name]))
    with pytest.raises(CheckpointFileError, match=files[name]):
        backbone.init_weights()


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth does not exist'):
        load_checkpoint_file(str(tmp_path / 'missing.pth'))


@pytest.mark.parametrize('name,shown', [('NaN log_beta', 'nan'),
                                        ('inf log_beta', 'inf')])
def test_non_finite_temperature_in_a_checkpoint(files, name, shown):
    message = f'stages.1.2.aggregate.branch.log_beta.*{shown}.*must be finite'
    backbone = mmvig.AttentionViG(TINY, init_cfg=dict(
        type='Pretrained', checkpoint=files[name]))
    with pytest.raises(InputError, match=message):
        backbone.init_weights()
    state = torch.load(files[name], weights_only=True)['state_dict']
    with pytest.raises(InputError, match=message):
        mmvig.AttentionViG(TINY).load_state_dict(state)


def test_pretrained_checkpoint_of_another_arch(files):
    backbone = mmvig.AttentionViG(TINY, init_cfg=dict(
        type='Pretrained', checkpoint=files['another arch']))
    with pytest.raises(CheckpointMismatchError,
                       match=r'other.pth.*with the wrong shape'):
        backbone.init_weights()


def test_load_from_a_checkpoint_of_another_arch_stops(files, scenes,
                                                      tmp_path):
    """mmengine would log the mismatches and train on; the StrictLoadHook
    that mmvig's tools add stops before the first step."""
    from mmengine.runner import Runner
    from mmvig.engine import StrictLoadHook
    cfg = Config.fromfile('configs/demo/fpn_attentionvig_s_scenes.py')
    cfg.model.backbone.arch = TINY
    cfg.model.backbone.init_cfg = None
    cfg.model.neck.in_channels = TINY['widths']
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = scenes
        cfg[f'{split}_dataloader'].num_workers = 0
        cfg[f'{split}_dataloader'].persistent_workers = False
    cfg.work_dir = str(tmp_path / 'work')
    cfg.load_from = files['another arch']
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.register_hook(StrictLoadHook(), priority='VERY_HIGH')
    with pytest.raises(CheckpointMismatchError,
                       match=r'other.pth does not match EncoderDecoder: '
                       r'\d+ missing keys.*--partial-load'):
        runner.train()
    assert runner.iter == 0


def test_ema_weights_asked_of_a_checkpoint_without(files):
    with pytest.raises(InputError, match='holds no EMA weights'):
        select_weights({'state_dict': {}}, 'ema')


def test_missing_evaluator_annotation_file(scenes):
    cfg = Config.fromfile('configs/demo/mask_rcnn_attentionvig_s_scenes.py')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = scenes
    cfg.val_evaluator.ann_file = osp.join(scenes, 'missing.json')
    with pytest.raises(FileNotFoundError,
                       match=r'val_evaluator\.ann_file.*missing\.json'):
        check_data_paths(cfg)


def test_coco_annotation_with_empty_segmentation(scenes, tmp_path):
    from mmdet.datasets import CocoDataset
    with open(osp.join(scenes, 'annotations', 'instances_train.json')) as f:
        coco = json.load(f)
    coco['annotations'][3]['segmentation'] = []
    image = next(i for i in coco['images']
                 if i['id'] == coco['annotations'][3]['image_id'])
    ann_file = tmp_path / 'broken.json'
    ann_file.write_text(json.dumps(coco))
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = CocoDataset(
            ann_file=str(ann_file), data_prefix=dict(img=osp.join(
                scenes, 'images', 'train') + '/'),
            metainfo=dict(classes=tuple(c['name']
                                        for c in coco['categories'])),
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations', with_bbox=True,
                           with_mask=True)])
    with pytest.raises(InputError, match=rf'broken.json: instance \d+ of '
                       rf'image .*{image["file_name"]} has no mask'):
        check_instance_masks(dataset)


@pytest.mark.parametrize('key', ['stem.0.conv.weight',
                                 'stem.0.bn.running_var'])
def test_weights_that_are_not_finite_are_refused(key):
    """Any tensor, not only the temperatures: a diverged run's weights."""
    state = mmvig.AttentionViG(TINY).state_dict()
    state[key] = torch.full_like(state[key], math.nan)
    with pytest.raises(InputError, match=rf'first {key} \(nan\).*finite'):
        mmvig.AttentionViG(TINY).load_state_dict(state)


@pytest.mark.parametrize('log_beta,beta,clamped', [
    (math.log(20.0), 20.0, False), (12.0, math.exp(10.0), True),
    (1e30, math.exp(10.0), True), (-50.0, math.exp(-10.0), True)])
def test_print_beta_shows_the_beta_the_model_uses(log_beta, beta, clamped):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'print_beta', 'tools/analysis/print_beta.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    row = tool.Temperature(1, 1, 0, 'stages.0.0.aggregate.branch.log_beta',
                           log_beta)
    assert row.beta == pytest.approx(beta) and row.clamped == clamped
