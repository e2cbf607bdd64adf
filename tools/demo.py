"""mmvig's main job on built-in data: train, evaluate and report.

Generates the synthetic shapes data set (deterministic from a seed) under
``data/``, trains AttentionViG-S on it with the real mmpretrain runner, evaluates
the final checkpoint and prints top-1 next to chance.

    python tools/demo.py [--epochs N] [--work-dir DIR] [--data-root DIR]

A second run resumes from the checkpoints in the work dir: a finished run is
only evaluated again, an interrupted one continues where it stopped.
"""
import argparse
import os.path as osp
import time

import mmvig  # noqa: F401  (registers mmvig's modules, applies fixes)
from mmengine.config import Config
from mmengine.runner import Runner

from mmvig.datasets import SHAPE_CLASSES, make_classification_set

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'demo', 'attentionvig_s_shapes.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data', 'shapes'))
    parser.add_argument('--work-dir',
                        default=osp.join(ROOT, 'work_dirs', 'demo'))
    parser.add_argument('--epochs', type=int, default=None,
                        help='override the config (default: its max_epochs)')
    parser.add_argument('--seed', type=int, default=0, help='data seed')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    print(f'[demo] generating shapes data under {args.data_root}', flush=True)
    sizes = make_classification_set(args.data_root, seed=args.seed)
    print(f'[demo] {sizes["train"]} train / {sizes["val"]} val images, '
          f'{len(SHAPE_CLASSES)} classes', flush=True)

    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = osp.join(args.work_dir, 'attentionvig_s_shapes')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = args.data_root
    if args.epochs is not None:
        cfg.train_cfg.max_epochs = args.epochs
        cfg.train_cfg.val_interval = args.epochs
        cfg.param_scheduler[-1].end = args.epochs
    cfg.resume = True  # picks up the latest checkpoint in work_dir, if any

    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    minutes = (time.time() - start) / 60

    top1 = metrics['accuracy/top1']
    chance = 100 / len(SHAPE_CLASSES)
    rows = [('model', 'AttentionViG-S (mmpretrain)'),
            ('data', f'synthetic shapes, {len(SHAPE_CLASSES)} classes, '
                     f'{sizes["train"]} train / {sizes["val"]} val'),
            ('epochs', str(cfg.train_cfg.max_epochs)),
            ('top-1 (%)', f'{top1:.1f}'),
            ('chance (%)', f'{chance:.1f}'),
            ('wall time (min)', f'{minutes:.1f}'),
            ('checkpoint', osp.relpath(osp.join(
                cfg.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth'), ROOT))]
    width = max(len(k) for k, _ in rows)
    print('\n' + '\n'.join(f'{k:<{width}}  {v}' for k, v in rows))


if __name__ == '__main__':
    main()
