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


def _pretrained_paths(node, key: str) -> Iterator[Tuple[str, str]]:
    if isinstance(node, dict):
        if node.get('type') == 'Pretrained' and node.get('checkpoint'):
            yield f'{key}.checkpoint', node['checkpoint']
        for k, v in node.items():
            yield from _pretrained_paths(v, f'{key}.{k}')
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _pretrained_paths(v, f'{key}[{i}]')


def check_checkpoints(cfg: Config) -> None:
    """Fail early when a local ``Pretrained`` checkpoint or ``load_from`` is
    missing, naming the config key (URLs are left to the loader).

    Raises:
        FileNotFoundError: a local checkpoint path does not exist.
    """
    paths = list(_pretrained_paths(cfg.get('model', {}), 'model'))
    if cfg.get('load_from'):
        paths.append(('load_from', cfg.load_from))
    for key, path in paths:
        if '://' not in path and not osp.isfile(osp.expanduser(path)):
            raise FileNotFoundError(
                f'Checkpoint not found: {key} points to {path!r}. Train the '
                'ImageNet classifier first (configs/attentionvig_*_in1k.py) '
                'or set the path in the config.')
