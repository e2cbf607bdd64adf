"""mmengine 0.10.7 on torch >= 2.6: training checkpoints load with torch's
safe loader, mmdet:: bases resolve, and the tools' fixes stay in the tools."""
import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import CheckpointLoader, load_checkpoint

import mmvig  # noqa: F401
from mmvig.compat import tool_environment


def test_checkpoint_with_numpy_values_loads_safely(tmp_path):
    # Training checkpoints hold numpy values beside the tensors, which
    # torch.load(weights_only=True) refuses without mmvig's allowlist.
    path = tmp_path / 'full.pth'
    model = torch.nn.Linear(2, 2)
    torch.save({'state_dict': model.state_dict(),
                'meta': {'seed': np.int64(3), 'hist': np.arange(3),
                         'dtype': np.dtype('float32')}}, path)
    ckpt = CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert ckpt['meta']['seed'] == 3
    assert torch.load(path, weights_only=True)['meta']['hist'].tolist() == [
        0, 1, 2]
    fresh = torch.nn.Linear(2, 2)
    load_checkpoint(fresh, str(path))
    assert torch.equal(fresh.weight, model.weight)


def test_tool_environment_is_scoped():
    import mmengine.dist.utils as dist_utils
    original = dist_utils._init_dist_pytorch
    with tool_environment():
        assert dist_utils._init_dist_pytorch is not original
    assert dist_utils._init_dist_pytorch is original


def test_scoped_base_configs_resolve():
    cfg = Config.fromfile('configs/attentionvig_s_in1k.py')
    assert cfg.train_dataloader.dataset.type == 'ImageNet'
