"""Training with mmengine's runner on generated data: the loss falls, the
checkpoint loads back, a run resumes, missing data stop it first."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import mmvig  # noqa: F401
from mmvig import AttentionViG
from mmvig.datasets import check_data_paths
from mmvig.testing import (TINY, check_training_lowers_loss,
                           tiny_classification_config)


def test_training_lowers_loss_and_checkpoint_loads_back(shapes, tmp_path):
    cfg = tiny_classification_config(shapes, str(tmp_path / 'run'), epochs=4)
    runner = Runner.from_cfg(cfg)
    check_training_lowers_loss(runner)

    ckpt = osp.join(cfg.work_dir, 'epoch_4.pth')
    assert osp.isfile(ckpt)
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    assert state['meta']['epoch'] == 4
    assert not any(k.startswith('teacher') for k in state['state_dict'])

    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        fresh = MODELS.build(cfg.model)
    fresh.load_state_dict(state['state_dict'])
    model = runner.model.eval()
    fresh.eval()
    x = torch.randn(2, 3, 72, 72)
    with torch.no_grad():
        torch.testing.assert_close(
            fresh(x, mode='tensor'), model(x, mode='tensor'))

    backbone = AttentionViG(
        TINY,
        init_cfg=dict(type='Pretrained', checkpoint=ckpt, prefix='backbone.'))
    backbone.init_weights()
    backbone.eval()
    with torch.no_grad():
        torch.testing.assert_close(backbone(x)[-1], model.backbone(x)[-1])


def test_resume_continues_at_the_saved_epoch(shapes, tmp_path):
    cfg = tiny_classification_config(shapes, str(tmp_path / 'run'), epochs=1)
    Runner.from_cfg(copy.deepcopy(cfg)).train()
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 2
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.train_loop.epoch == 2
    assert runner.train_loop.iter == 2 * len(runner.train_dataloader)


def test_missing_data_root_fails_before_training(tmp_path):
    cfg = tiny_classification_config(
        str(tmp_path / 'nowhere'), str(tmp_path / 'w'), 1)
    with pytest.raises(
            FileNotFoundError,
            match=r"train_dataloader\.dataset\.data_root.*nowhere"):
        check_data_paths(cfg)


def test_a_last_batch_of_one_trains(shapes, tmp_path):
    """36 training images in batches of 7: the epoch ends with a batch of one,
    which the head's BatchNorm cannot take batch statistics from."""
    cfg = tiny_classification_config(shapes, str(tmp_path / 'run'), epochs=1)
    cfg.train_dataloader.batch_size = 7
    runner = Runner.from_cfg(cfg)
    assert len(runner.train_dataloader.dataset) % 7 == 1
    runner.train()
    assert runner.train_loop.iter == len(runner.train_dataloader) == 6


def test_the_head_normalises_a_batch_of_one_with_running_statistics():
    from mmvig.models.heads import DistilledClassifierHead
    head = DistilledClassifierHead(16, 4, hidden_channels=8).train()
    norm = head.fc.bn
    before = norm.running_mean.clone(), norm.num_batches_tracked.clone()
    x = torch.randn(1, 16, 3, 3)
    out = head(x)
    assert out.shape == (1, 4) and head.training and norm.training
    assert torch.equal(norm.running_mean, before[0])
    assert torch.equal(norm.num_batches_tracked, before[1])
    head.eval()
    torch.testing.assert_close(head(x), out)  # what eval mode computes
    head.train()(torch.randn(2, 16, 3, 3))
    assert norm.num_batches_tracked == before[1] + 1


def test_a_resume_never_executes_the_checkpoints_config_text(shapes, tmp_path):
    """mmengine's resume executes ``meta['config']`` as Python (to read its
    ``gpu_ids``); every mmvig config's runner, MMVigRunner, keeps only that
    line, read without executing anything. Control: mmengine's own Runner
    runs the text."""
    from mmengine.registry import RUNNERS

    from mmvig.engine import MMVigRunner
    from mmvig.safe_load import read_checkpoint
    cfg = tiny_classification_config(shapes, str(tmp_path / 'run'), epochs=1)
    assert cfg.runner_type == 'MMVigRunner'
    RUNNERS.build(copy.deepcopy(cfg)).train()
    checkpoint = read_checkpoint(osp.join(cfg.work_dir, 'epoch_1.pth'))
    marker = tmp_path / 'config_ran'
    checkpoint['meta']['config'] = (
        f"__import__('os').system('touch {marker}')"
        '\ngpu_ids = [0]\n')
    crafted = str(tmp_path / 'crafted.pth')
    torch.save(checkpoint, crafted)
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 2
    cfg.resume = True
    cfg.load_from = crafted
    runner = RUNNERS.build(copy.deepcopy(cfg))
    assert type(runner) is MMVigRunner
    runner.train()
    assert runner.train_loop.epoch == 2
    assert not marker.exists()
    cfg.pop('runner_type')
    cfg.work_dir = str(tmp_path / 'control')
    Runner.from_cfg(cfg).train()
    assert marker.exists()
