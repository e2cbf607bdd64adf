"""mmvig.engine.hooks: StrictLoadHook (a checkpoint that does not fit stops
the run, every documented form is read) and DivergenceHook."""
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner

import mmvig
from mmvig.apis import read_config
from mmvig.models.pretrained import CheckpointMismatchError
from mmvig.testing import TINY, tiny_classification_config


def test_load_from_a_checkpoint_of_another_arch_stops(bad_checkpoints, scenes,
                                                      tmp_path):
    """mmengine would log the mismatches and train on; the StrictLoadHook
    that mmvig's tools add stops before the first step."""
    from mmengine.runner import Runner

    from mmvig.engine import StrictLoadHook
    cfg = read_config('configs/demo/fpn_attentionvig_s_scenes.py')
    cfg.model.backbone.arch = TINY
    cfg.model.backbone.init_cfg = None
    cfg.model.neck.in_channels = TINY['widths']
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = scenes
        cfg[f'{split}_dataloader'].num_workers = 0
        cfg[f'{split}_dataloader'].persistent_workers = False
    cfg.work_dir = str(tmp_path / 'work')
    cfg.load_from = bad_checkpoints['another arch']
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.register_hook(StrictLoadHook(), priority='VERY_HIGH')
    with pytest.raises(
            CheckpointMismatchError,
            match=r'other.pth does not match EncoderDecoder: '
            r'\d+ missing keys.*--partial-load'):
        runner.train()
    assert runner.iter == 0


def _checkpoint_forms(state):
    """Every form of a whole model's weights mmvig documents."""
    return {
        'mmengine': {
            'meta': {},
            'state_dict': state
        },
        'plain state dict': dict(state),
        'timm-format': dict(state),  # timm's models have mmvig's keys
        'module. prefix': {
            f'module.{k}': v
            for k, v in state.items()
        },
        'mmengine with module. prefix': {
            'state_dict': {
                f'module.{k}': v
                for k, v in state.items()
            }
        },
        "timm's train.py": {
            'state_dict': state,
            'state_dict_ema': state,
            'epoch': 3
        },
        "DeiT's main.py": {
            'model': state,
            'epoch': 3
        },
    }


def _hook_runner(model, resume=False):
    from types import SimpleNamespace
    return SimpleNamespace(
        model=model, _resume=resume, _load_from='ckpt.pth', work_dir='.')


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
    cases = [(short, r'ckpt.pth does not match AttentionViG: \d+ missing'),
             (dict(model=short), r'\d+ missing keys'),
             (dict(state_dict=wrong), '1 with the wrong shape')]
    for checkpoint, message in cases:
        with pytest.raises(CheckpointMismatchError, match=message) as error:
            StrictLoadHook().after_load_checkpoint(
                _hook_runner(model, resume), checkpoint)
        assert hint in str(error.value)


def test_a_diverged_run_stops_before_saving_nan_weights(shapes, tmp_path):
    """A learning rate that blows up: the run stops at the first non-finite
    loss with the iteration and where to resume, and no checkpoint it wrote
    holds a non-finite tensor."""
    import glob

    from mmvig.errors import DivergenceError
    cfg = tiny_classification_config(shapes, str(tmp_path / 'run'), epochs=3)
    cfg.optim_wrapper.optimizer.lr = 1e4
    assert any(h['type'] == 'DivergenceHook' for h in cfg.custom_hooks)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(
            DivergenceError,
            match=r'(loss is (nan|inf) at|not finite after) '
            r'iteration \d+ .*run again'):
        runner.train()
    for path in glob.glob(osp.join(cfg.work_dir, '*.pth')):
        state = torch.load(path, weights_only=False)['state_dict']
        assert all(
            torch.isfinite(v).all() for v in state.values()
            if v.is_floating_point()), path
