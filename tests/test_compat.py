"""mmengine 0.10.7 on torch >= 2.6: full checkpoints load, mmdet:: bases resolve."""
import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import CheckpointLoader, load_checkpoint

import mmvig  # noqa: F401


def test_checkpoint_with_python_objects_loads(tmp_path):
    # Training checkpoints hold non-tensor objects (message hub, numpy
    # values), which torch.load(weights_only=True) refuses.
    path = tmp_path / 'full.pth'
    model = torch.nn.Linear(2, 2)
    torch.save({'state_dict': model.state_dict(),
                'meta': {'seed': np.int64(3), 'hist': np.arange(3)}}, path)
    ckpt = CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert ckpt['meta']['seed'] == 3
    fresh = torch.nn.Linear(2, 2)
    load_checkpoint(fresh, str(path))
    assert torch.equal(fresh.weight, model.weight)


def test_scoped_base_configs_resolve():
    cfg = Config.fromfile('configs/attentionvig_s_in1k.py')
    assert cfg.train_dataloader.dataset.type == 'ImageNet'
