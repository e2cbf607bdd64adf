"""Checks run on a config before any training starts."""
import os.path as osp
from typing import Iterator, Sequence, Tuple

from mmengine.config import Config

_WRAPPER_KEYS = ('dataset', 'datasets')


def _datasets(cfg: dict, key: str) -> Iterator[Tuple[str, dict]]:
    """Yield ``(config key, dataset cfg)`` for a dataset and any it wraps."""
    wrapped = [k for k in _WRAPPER_KEYS if k in cfg]
    if not wrapped:
        yield key, cfg
    for k in wrapped:
        inner = cfg[k]
        if isinstance(inner, (list, tuple)):
            for i, item in enumerate(inner):
                yield from _datasets(item, f'{key}.{k}[{i}]')
        else:
            yield from _datasets(inner, f'{key}.{k}')


def check_data_paths(cfg: Config, splits: Sequence[str] = ('train', 'val')) -> None:
    """Fail early, naming the config key, when a data path does not exist.

    Checks ``data_root``, ``ann_file`` and every ``data_prefix`` entry of the
    ``{split}_dataloader`` datasets (wrappers such as ``RepeatDataset`` and
    ``ConcatDataset`` included).

    Raises:
        FileNotFoundError: a path is missing.
    """
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader or 'dataset' not in loader:
            continue
        for key, dataset in _datasets(loader['dataset'],
                                      f'{split}_dataloader.dataset'):
            root = dataset.get('data_root') or ''
            paths = []
            if root:
                paths.append(('data_root', root))
            if dataset.get('ann_file'):
                paths.append(('ann_file', osp.join(root, dataset['ann_file'])))
            prefix = dataset.get('data_prefix') or {}
            if isinstance(prefix, str):
                prefix = {'': prefix}
            paths += [(f'data_prefix.{k}' if k else 'data_prefix',
                       osp.join(root, v)) for k, v in prefix.items() if v]
            for name, path in paths:
                if not osp.exists(path):
                    raise FileNotFoundError(
                        f'{split} data not found: {key}.{name} points to '
                        f'{path!r}, which does not exist. Set the data paths '
                        'in the config (or with --cfg-options) to where the '
                        'data set lives.')
