"""A short mmpretrain training run on a generated image-folder data set."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmvig  # noqa: F401
from mmvig import AttentionViG
from mmvig.datasets import check_data_paths, make_classification_set
from helpers import TINY, batch_loss, first_train_batch, use_small_loaders



def demo_config(data_root: str, work_dir: str, epochs: int) -> Config:
    cfg = Config.fromfile('configs/demo/attentionvig_s_shapes.py')
    cfg.work_dir = work_dir
    cfg.model.backbone.arch = TINY
    cfg.model.head.in_channels = 128
    use_small_loaders(cfg, data_root, batch_size=12)
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0)]
    cfg.optim_wrapper.optimizer.lr = 1e-3
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    return cfg


def test_training_lowers_loss_and_checkpoint_loads_back(shapes, tmp_path):
    cfg = demo_config(shapes, str(tmp_path / 'run'), epochs=4)
    runner = Runner.from_cfg(cfg)
    data = first_train_batch(runner)
    loss_before = batch_loss(runner.model, data)
    runner.train()
    loss_after = batch_loss(runner.model, data)
    assert loss_after < 0.8 * loss_before, (loss_before, loss_after)

    ckpt = osp.join(cfg.work_dir, 'epoch_4.pth')
    assert osp.isfile(ckpt)
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    assert state['meta']['epoch'] == 4
    assert not any(k.startswith('teacher') for k in state['state_dict'])

    from mmpretrain.registry import MODELS
    fresh = MODELS.build(cfg.model)
    fresh.load_state_dict(state['state_dict'])
    model = runner.model.eval()
    fresh.eval()
    x = torch.randn(2, 3, 72, 72)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x, mode='tensor'),
                                   model(x, mode='tensor'))

    backbone = AttentionViG(TINY, init_cfg=dict(
        type='Pretrained', checkpoint=ckpt, prefix='backbone.'))
    backbone.init_weights()
    backbone.eval()
    with torch.no_grad():
        torch.testing.assert_close(backbone(x)[-1], model.backbone(x)[-1])


def test_resume_continues_at_the_saved_epoch(shapes, tmp_path):
    cfg = demo_config(shapes, str(tmp_path / 'run'), epochs=1)
    Runner.from_cfg(copy.deepcopy(cfg)).train()
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 2
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.train_loop.epoch == 2
    assert runner.train_loop.iter == 2 * len(runner.train_dataloader)


def test_missing_data_root_fails_before_training(tmp_path):
    cfg = demo_config(str(tmp_path / 'nowhere'), str(tmp_path / 'w'), 1)
    with pytest.raises(FileNotFoundError,
                       match=r"train_dataloader\.dataset\.data_root.*nowhere"):
        check_data_paths(cfg)


def test_generator_is_deterministic(tmp_path):
    a, b, c = (str(tmp_path / n) for n in 'abc')
    make_classification_set(a, 2, 1, image_size=72, seed=3)
    make_classification_set(b, 2, 1, image_size=72, seed=3)
    make_classification_set(c, 2, 1, image_size=72, seed=4)
    name = osp.join('train', 'star', '00001.png')
    with open(osp.join(a, name), 'rb') as fa, open(osp.join(b, name),
                                                   'rb') as fb:
        assert fa.read() == fb.read()
    with open(osp.join(a, name), 'rb') as fa, open(osp.join(c, name),
                                                   'rb') as fc:
        assert fa.read() != fc.read()


def test_shapes_stand_out_from_their_background():
    import numpy as np
    from mmvig.datasets.synthetic import (background_colors,
                                          contrasting_color)
    rng = np.random.RandomState(0)
    for _ in range(50):
        background = background_colors(rng)
        color = contrasting_color(rng, background)
        assert all(np.linalg.norm(np.subtract(color, b)) >= 120
                   for b in background)


def test_a_diverged_run_stops_before_saving_nan_weights(shapes, tmp_path):
    """A learning rate that blows up: the run stops at the first non-finite
    loss with the iteration and where to resume, and no checkpoint it wrote
    holds a non-finite tensor."""
    import glob
    from mmvig.errors import DivergenceError
    cfg = demo_config(shapes, str(tmp_path / 'run'), epochs=3)
    cfg.optim_wrapper.optimizer.lr = 1e4
    assert any(h['type'] == 'DivergenceHook' for h in cfg.custom_hooks)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(DivergenceError,
                       match=r'(loss is (nan|inf) at|not finite after) '
                       r'iteration \d+ .*run again'):
        runner.train()
    for path in glob.glob(osp.join(cfg.work_dir, '*.pth')):
        state = torch.load(path, weights_only=False)['state_dict']
        assert all(torch.isfinite(v).all() for v in state.values()
                   if v.is_floating_point()), path
