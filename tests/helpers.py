"""Shared test settings: a tiny AttentionViG and small-data loaders."""
from mmengine.config import Config

# Four stages, one block and one Grapher each: seconds per training step.
TINY = dict(widths=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_graphers=1)


def use_small_loaders(cfg: Config, data_root: str, batch_size: int) -> None:
    """Point every dataloader at ``data_root``, in-process, ``batch_size``."""
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.data_root = data_root
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.batch_size = batch_size
