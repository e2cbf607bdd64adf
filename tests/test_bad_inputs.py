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
from mmvig.safe_load import CheckpointFileError, load_checkpoint_file
from mmvig.datasets import check_data_paths, check_instance_masks
from mmvig.errors import InputError
from mmvig.models.pretrained import CheckpointMismatchError, select_weights
from helpers import SAG_TINY, TINY


def attention_vig(**kwargs):
    return lambda: mmvig.AttentionViG(TINY, **kwargs)


def sag_vit(**kwargs):
    return lambda: mmvig.SAGViT(SAG_TINY, **kwargs)


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
    *[(f'{name}={value!r}', build(**{name: value}),
       f'{name} must be True or False, got {value!r}')
      for build, names in ((attention_vig, ('with_cp', 'norm_eval',
                                            'pos_embed_in_branch')),
                           (sag_vit, ('with_cp', 'norm_eval')))
      for name in names for value in ('no', 'false', 'False', 1, None)],
    ('with_cp per stage with a string',
     attention_vig(with_cp=[False, 'no', False, False]),
     "with_cp must be True or False, got 'no'"),
    *[(f'{model} out_indices={value!r}', build(out_indices=value), message)
      for model, build in (('AttentionViG', attention_vig),
                           ('SAG-ViT', sag_vit))
      for value, message in (
          ((1.5,), r'out_indices must be integers, got 1.5 in \(1.5,\)'),
          ('0123', "out_indices must be an int or a list/tuple of ints, "
                   "got '0123'"),
          ((True,), 'out_indices must be integers, got True'),
          ((0, 4), r'out_indices must be in \[-4, 3\], got 4'))],
    *[(f'{model} frozen_stages={value!r}', build(frozen_stages=value),
       message)
      for model, build in (('AttentionViG', attention_vig),
                           ('SAG-ViT', sag_vit))
      for value, message in (
          ('1', "frozen_stages must be an integer, got '1'"),
          (5, r'frozen_stages must be in \[-1, 4\], got 5'))],
    *[(f'{model} norm_cfg={cfg!r}', build(norm_cfg=cfg), message)
      for model, build in (('AttentionViG', attention_vig),
                           ('SAG-ViT', sag_vit))
      for cfg, message in (
          (dict(type='LN'), f"{model}'s norm_cfg {{'type': 'LN'}} cannot "
                            r'normalise its \(B, \d+, H, W\) feature maps'),
          (dict(type='BN1d'), 'cannot normalise.*use a 2-D norm'),
          ('BN', f"{model}'s norm_cfg must be a dict with a type, got 'BN'"))],
    ('drop_path_rate as text', attention_vig(drop_path_rate='0.1'),
     "drop_path_rate must be a number, got '0.1'"),
    ('in_channels=0', attention_vig(in_channels=0),
     r'in_channels must be in \[1, inf\], got 0'),
    ('arch widths as floats',
     lambda: mmvig.AttentionViG(dict(widths=[16.0] * 4, depths=1,
                                     num_graphers=1)),
     'arch.widths must be an integer, got 16.0'),
    ('SAG-ViT patch_size as text', sag_vit(patch_size='2'),
     "patch_size must be an integer, got '2'"),
    ('SAG-ViT k=0', sag_vit(k=0),
     r'k \(graph connectivity\) must be in \[1, inf\], got 0'),
    ('SAG-ViT trunk_init_cfg as a path', sag_vit(trunk_init_cfg='x.pth'),
     "trunk_init_cfg must be dict\\(type='Pretrained'"),
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


@pytest.mark.parametrize('model', ['AttentionViG', 'SAGViT'])
@pytest.mark.parametrize('setting', ['with_cp', 'norm_eval'])
def test_cfg_options_text_is_not_taken_as_a_boolean(model, setting):
    """``--cfg-options model.backbone.with_cp=no`` hands the backbone the
    text 'no'; mmengine turns only True/False into booleans."""
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    arch = TINY if model == 'AttentionViG' else SAG_TINY
    config = Config(dict(model=dict(type=model, arch=arch)))
    for text, value in (('no', None), ('False', False), ('true', True)):
        options = parser.parse_args(
            ['--cfg-options', f'model.{setting}={text}']).cfg_options
        config.merge_from_dict(options)
        build = lambda: mmvig.registry.MODELS.build(config.model)  # noqa
        if value is None:
            with pytest.raises(InputError, match=f"{setting} must be True or "
                               "False, got 'no': --cfg-options"):
                build()
        else:
            backbone = build()
            assert getattr(backbone, setting) in (value, [value] * 4)


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


def _checkpoint_forms(state):
    """Every form of a whole model's weights mmvig documents."""
    return {
        'mmengine': {'meta': {}, 'state_dict': state},
        'plain state dict': dict(state),
        'timm-format': dict(state),  # timm's models have mmvig's keys
        'module. prefix': {f'module.{k}': v for k, v in state.items()},
        'mmengine with module. prefix': {'state_dict': {
            f'module.{k}': v for k, v in state.items()}},
        "timm's train.py": {'state_dict': state, 'state_dict_ema': state,
                            'epoch': 3},
        "DeiT's main.py": {'model': state, 'epoch': 3},
    }


def _hook_runner(model, resume=False):
    from types import SimpleNamespace
    return SimpleNamespace(model=model, _resume=resume,
                           _load_from='ckpt.pth', work_dir='.')


@pytest.mark.parametrize('form', sorted(_checkpoint_forms({})))
def test_strict_load_hook_reads_every_documented_form(form):
    """The hook lets every form through that mmengine then loads whole, and
    mmengine's loader gets every weight."""
    from mmengine.runner.checkpoint import _load_checkpoint_to_model
    from mmvig.engine import StrictLoadHook
    torch.manual_seed(0)
    source = mmvig.AttentionViG(TINY)
    target = mmvig.AttentionViG(TINY)
    checkpoint = _checkpoint_forms(source.state_dict())[form]
    StrictLoadHook().after_load_checkpoint(_hook_runner(target), checkpoint)
    _load_checkpoint_to_model(target, checkpoint)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


@pytest.mark.parametrize('resume', [False, True])
def test_strict_load_hook_stays_strict(resume):
    from mmvig.engine import StrictLoadHook
    model = mmvig.AttentionViG(TINY)
    state = model.state_dict()
    short = {k: v for k, v in state.items() if not k.startswith('stem.')}
    wrong = dict(state)
    wrong['stem.0.conv.weight'] = torch.zeros(1, 1, 1, 1)
    hint = ('without --resume' if resume else '--partial-load to '
            'tools/train.py')
    for checkpoint, message in (
            (short, r'ckpt.pth does not match AttentionViG: \d+ missing'),
            ({'model': short}, r'\d+ missing keys'),
            ({'state_dict': wrong}, '1 with the wrong shape')):
        with pytest.raises(CheckpointMismatchError, match=message) as error:
            mmvig.engine.StrictLoadHook().after_load_checkpoint(
                _hook_runner(model, resume), checkpoint)
        assert hint in str(error.value)


def test_pretrained_init_strips_a_module_prefix(tmp_path):
    """A classifier saved from a DDP-wrapped model without mmengine."""
    torch.manual_seed(0)
    source = mmvig.AttentionViG(TINY)
    path = str(tmp_path / 'ddp.pth')
    torch.save({'state_dict': {f'module.backbone.{k}': v for k, v in
                               source.state_dict().items()}}, path)
    target = mmvig.AttentionViG(TINY, init_cfg=dict(type='Pretrained',
                                                    checkpoint=path))
    target.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_a_truncated_checkpoint_names_the_file(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': mmvig.AttentionViG(TINY).state_dict()}, path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointFileError,
                       match=f'{path} is not a readable checkpoint: it is '
                       'truncated or damaged'):
        load_checkpoint_file(str(path))


def test_an_image_that_does_not_decode_names_the_file(shapes, tmp_path):
    from mmvig.datasets import read_image
    from mmvig.datasets.checks import NamedImageLoading
    from mmcv.transforms import LoadImageFromFile
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    garbage = tmp_path / 'garbage.png'
    garbage.write_bytes(b'not an image' * 10)
    for path, what in ((empty, r'is empty \(0 bytes\)'),
                       (garbage, 'cannot be decoded as an image')):
        with pytest.raises(InputError, match=f'{path} {what}'):
            read_image(str(path))
        with pytest.raises(InputError, match=f'{path} {what}'):
            NamedImageLoading(LoadImageFromFile())(dict(img_path=str(path)))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        read_image(str(tmp_path / 'missing.png'))
    image = osp.join(shapes, 'val', 'circle', '00000.png')
    loaded = NamedImageLoading(LoadImageFromFile())(dict(img_path=image))
    assert loaded['img'].shape == read_image(image).shape


def _tool_cases(config, checkpoint, shapes, tmp_path):
    """(tool arguments, what the one-line error must say) per case."""
    import shutil
    import zipfile
    truncated = str(tmp_path / 'truncated.pth')
    with open(checkpoint, 'rb') as f:
        data = f.read()
    with open(truncated, 'wb') as f:
        f.write(data[:len(data) // 2])
    damaged = bytearray(data)  # a record's header, the directory intact
    with zipfile.ZipFile(checkpoint) as archive:
        record = [i for i in archive.infolist() if '/data/' in i.filename][0]
    damaged[record.header_offset:record.header_offset + 4] = b'XXXX'
    damaged_path = str(tmp_path / 'damaged.pth')
    with open(damaged_path, 'wb') as f:
        f.write(damaged)
    weights = str(tmp_path / 'weights.pth')
    torch.save(load_checkpoint_file(checkpoint)['state_dict'], weights)
    work = {name: tmp_path / name for name in ('empty', 'dangling')}
    for name, text in (('empty', ''), ('dangling', '/nowhere/epoch_9.pth')):
        work[name].mkdir()
        (work[name] / 'last_checkpoint').write_text(text)
    data_root = tmp_path / 'data'
    shutil.copytree(shapes, data_root)
    empty_image = data_root / 'train' / 'circle' / '00000.png'
    empty_image.write_bytes(b'')
    train = ['tools/train.py', config, '--work-dir']
    return {
        'truncated load_from': (
            train + [str(tmp_path / 'w1'), '--cfg-options',
                     f'load_from={truncated}'],
            f'{truncated} is not a readable checkpoint: it is truncated'),
        'truncated test checkpoint': (
            ['tools/test.py', config, truncated, '--work-dir',
             str(tmp_path / 'w2')],
            f'{truncated} is not a readable checkpoint: it is truncated'),
        'a damaged record': (
            ['tools/test.py', config, damaged_path, '--work-dir',
             str(tmp_path / 'w6')],
            f'{damaged_path} is not a readable checkpoint: a record in it is '
            'damaged'),
        'resume from weights only': (
            train + [str(tmp_path / 'w3'), '--resume', weights],
            f'{weights} holds weights only.*load_from={weights} without '
            '--resume'),
        'empty last_checkpoint': (
            train + [str(work['empty']), '--resume'],
            'last_checkpoint is empty.*--resume PATH'),
        'dangling last_checkpoint': (
            train + [str(work['dangling']), '--resume'],
            'last_checkpoint names /nowhere/epoch_9.pth, which does not '
            'exist'),
        'partial-load resume': (
            train + [str(tmp_path / 'w4'), '--resume', checkpoint,
                     '--partial-load'],
            'load_from=CKPT --partial-load without --resume'),
        'an empty image, two loader workers': (
            train + [str(tmp_path / 'w5'), '--cfg-options',
                     f'train_dataloader.dataset.data_root={data_root}',
                     'train_dataloader.num_workers=2'],
            rf'{empty_image} is empty \(0 bytes\)'),
        'an empty image to visualize_neighbours': (
            ['tools/analysis/visualize_neighbours.py', config, checkpoint,
             str(empty_image), '--out', str(tmp_path / 'n.png')],
            rf'{empty_image} is empty \(0 bytes\)'),
    }


@pytest.mark.slow
def test_tools_give_one_line_errors_for_damaged_inputs(tiny_runs, shapes,
                                                       tmp_path):
    import re
    import subprocess
    import sys
    config, checkpoint = tiny_runs['cls']
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    failed = []
    for case, (args, message) in _tool_cases(config, checkpoint, shapes,
                                             tmp_path).items():
        result = subprocess.run([sys.executable, *args], cwd=root,
                                capture_output=True, text=True, timeout=600)
        last = result.stderr.strip().splitlines()[-1:] or ['']
        if result.returncode != 1 or 'Traceback' in result.stderr or \
                not re.search(message, last[0]) or \
                not last[0].startswith('error: '):
            failed.append(f'{case}: exit {result.returncode}, '
                          f'{result.stderr[-1500:]}')
    assert not failed, '\n\n'.join(failed)
