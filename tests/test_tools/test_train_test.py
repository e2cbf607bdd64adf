"""tools/train.py and tools/test.py: train then test, missing data, one-line
errors for damaged inputs, --cfg-options text, and the tools' mmengine
environment."""
import fractions
import json
import os
import os.path as osp
import pickle
import socket
import textwrap

import pytest
import torch
from checkpoint_fuzz import write_tensor_checkpoint
from mmengine.config import Config

import mmvig
from mmvig.datasets import make_classification_set
from mmvig.errors import InputError
from mmvig.safe_load import load_checkpoint_file
from mmvig.testing import REPO_ROOT, SAG_TINY, TINY, run_python, run_tool
from tools.tool_utils import tool_environment


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


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
            with pytest.raises(
                    InputError,
                    match=f"{setting} must be True or "
                    "False, got 'no': --cfg-options"):
                build()
        else:
            backbone = build()
            assert getattr(backbone, setting) in (value, [value] * 4)


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
    real = load_checkpoint_file(checkpoint)
    bad_iter = str(tmp_path / 'bad_iter.pth')
    torch.save(dict(real, meta=dict(real['meta'], iter='x')), bad_iter)
    expanded = str(tmp_path / 'expanded.pth')
    torch.save(
        dict(
            real,
            state_dict=dict(
                real['state_dict'],
                **{'backbone.evil': torch.zeros(1).expand(2_000_000_000)})),
        expanded)
    negative = str(tmp_path / 'negative.pth')
    write_tensor_checkpoint(negative, {'backbone.w': (-1, (1, ), (1, ))})
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
        'truncated load_from':
        (train +
         [str(tmp_path / 'w1'), '--cfg-options', f'load_from={truncated}'],
         f'{truncated} is not a readable checkpoint: it is truncated'),
        'truncated test checkpoint': ([
            'tools/test.py', config, truncated, '--work-dir',
            str(tmp_path / 'w2')
        ], f'{truncated} is not a readable checkpoint: it is truncated'),
        'a damaged record': ([
            'tools/test.py', config, damaged_path, '--work-dir',
            str(tmp_path / 'w6')
        ], f'{damaged_path} is not a readable checkpoint: a record in it is '
                             'damaged'),
        'resume from weights only':
        (train + [str(tmp_path / 'w3'), '--resume', weights],
         f'{weights} holds weights only.*load_from={weights} without '
         '--resume'),
        "resume with meta['iter'] = 'x'":
        (train + [str(tmp_path / 'w7'), '--resume', bad_iter],
         rf"{bad_iter} cannot be resumed: its meta\['iter'\] is 'x', "
         'where a training checkpoint records a non-negative integer'),
        'a tensor larger than its storage, load_from':
        (train +
         [str(tmp_path / 'w8'), '--cfg-options', f'load_from={expanded}'],
         f'Refused to load {expanded}: its tensor state_dict.backbone.evil '
         'has 2,000,000,000 elements over a storage of 1'),
        'a storage of negative size, load_from':
        (train +
         [str(tmp_path / 'w9'), '--cfg-options', f'load_from={negative}'],
         f'{negative} is not a readable checkpoint: a storage in it '
         'declares an impossible size'),
        'empty last_checkpoint': (train + [str(work['empty']), '--resume'],
                                  'last_checkpoint is empty.*--resume PATH'),
        'dangling last_checkpoint':
        (train + [str(work['dangling']), '--resume'],
         'last_checkpoint names /nowhere/epoch_9.pth, which does not '
         'exist'),
        'partial-load resume':
        (train +
         [str(tmp_path / 'w4'), '--resume', checkpoint, '--partial-load'],
         'load_from=CKPT --partial-load without --resume'),
        'an empty image, two loader workers': (train + [
            str(tmp_path / 'w5'), '--cfg-options',
            f'train_dataloader.dataset.data_root={data_root}',
            'train_dataloader.num_workers=2'
        ], rf'{empty_image} is empty \(0 bytes\)'),
        'an empty image to visualize_neighbours': ([
            'tools/analysis/visualize_neighbours.py', config, checkpoint,
            str(empty_image), '--out',
            str(tmp_path / 'n.png')
        ], rf'{empty_image} is empty \(0 bytes\)'),
        'a missing config to train.py':
        (['tools/train.py', str(tmp_path / 'nope.py')],
         f'config file not found: {tmp_path}/nope.py'),
        'a missing checkpoint to test.py': ([
            'tools/test.py', config,
            str(tmp_path / 'nope.pth')
        ], f'Checkpoint {tmp_path}/nope.pth does not exist'),
        'a missing config to get_flops.py': ([
            'tools/analysis/get_flops.py',
            str(tmp_path / 'nope.py')
        ], f'config file not found: .*{tmp_path}/nope.py'),
    }


@pytest.mark.slow
def test_tools_give_one_line_errors_for_damaged_inputs(tiny_runs, shapes,
                                                       tmp_path):
    import re
    config, checkpoint = tiny_runs['cls']
    failed = []
    for case, (args, message) in _tool_cases(config, checkpoint, shapes,
                                             tmp_path).items():
        result = run_python(*args, timeout=600)
        last = result.stderr.strip().splitlines()[-1:] or ['']
        if result.returncode != 1 or 'Traceback' in result.stderr or\
                not re.search(message, last[0]) or\
                not last[0].startswith('error: '):
            failed.append(f'{case}: exit {result.returncode}, '
                          f'{result.stderr[-1500:]}')
    assert not failed, '\n\n'.join(failed)


def test_tool_environment_is_scoped(tmp_path, monkeypatch):
    """Within a tool's run every torch.load is weights-only, even one that
    asks for weights_only=False (the OneDL fork's mmengine does, after
    torch's safe load refused); after it, not; a trusted run keeps its
    switch alone."""
    from mmvig.safe_load import FORCE_SWITCH, TRUST_SWITCH
    monkeypatch.delenv(FORCE_SWITCH, raising=False)
    monkeypatch.delenv(TRUST_SWITCH, raising=False)
    path = str(tmp_path / 'fraction.pth')
    torch.save({'third': fractions.Fraction(1, 3)}, path)
    with tool_environment():
        with pytest.raises(pickle.UnpicklingError, match='Weights only'):
            torch.load(path, weights_only=False)
    assert FORCE_SWITCH not in os.environ
    assert torch.load(path, weights_only=False)['third'].denominator == 3
    monkeypatch.setenv(TRUST_SWITCH, '1')
    with tool_environment():
        assert FORCE_SWITCH not in os.environ


def test_cpu_process_group_started_before_the_runner(monkeypatch):
    """A ``--launcher pytorch`` run without CUDA: the tools start the
    process group with the config's dist_cfg (mmengine's launcher would set
    a CUDA device first); other launchers are left to mmengine."""
    import torch.distributed as dist

    from tools.tool_utils import start_cpu_process_group
    assert not start_cpu_process_group(Config(dict(launcher='none')))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for name, value in dict(
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=str(_free_port()),
            RANK='0',
            WORLD_SIZE='1',
            LOCAL_RANK='0').items():
        monkeypatch.setenv(name, value)
    cfg = Config(
        dict(
            launcher='pytorch',
            env_cfg=dict(dist_cfg=dict(backend='gloo', timeout=60))))
    try:
        assert start_cpu_process_group(cfg)
        assert dist.get_backend() == 'gloo' and dist.get_world_size() == 1
        assert not start_cpu_process_group(cfg)  # one group, kept
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@pytest.mark.slow
def test_train_then_test_tools(tmp_path):
    data = str(tmp_path / 'shapes')
    make_classification_set(data, 4, 2, image_size=72, seed=2)
    config = tmp_path / 'tiny_shapes.py'
    config.write_text(
        textwrap.dedent(f"""
        _base_ = '{REPO_ROOT}/configs/demo/attentionvig_s_shapes.py'
        model = dict(backbone=dict(arch=dict(_delete_=True, **{TINY})),
                     head=dict(in_channels=128))
        train_cfg = dict(max_epochs=1, val_interval=1)
        """))
    loaders = [
        f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
        for key in (f'dataset.data_root={data}', 'num_workers=0',
                    'persistent_workers=False')
    ]
    work = str(tmp_path / 'work')
    run_tool('tools/train.py', str(config), '--work-dir', work,
             '--cfg-options', *loaders)
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    out_file = str(tmp_path / 'metrics.json')
    run_tool('tools/test.py', str(config), osp.join(work, 'epoch_1.pth'),
             '--work-dir', work, '--out', out_file, '--cfg-options', *loaders)
    with open(out_file) as f:
        assert 0 <= json.load(f)['accuracy/top1'] <= 100


def test_train_tool_names_missing_data(tmp_path):
    result = run_python(
        'tools/train.py',
        'configs/demo/attentionvig_s_shapes.py',
        '--work-dir',
        tmp_path,
        '--cfg-options',
        f'train_dataloader.dataset.data_root={tmp_path}/missing',
        timeout=600)
    assert result.returncode != 0
    assert 'train data not found' in result.stderr
    assert 'missing' in result.stderr
