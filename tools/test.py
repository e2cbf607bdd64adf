"""Evaluate a checkpoint with an mmpretrain, mmdet or mmseg config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
"""
import argparse
import json
import os.path as osp

import mmvig  # noqa: F401  (registers mmvig's modules, applies fixes)
from _common import add_common_args, finish, load_config, parse
from mmengine.runner import Runner

from mmvig.datasets import check_data_paths


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the metrics to this json file')
    add_common_args(parser)
    return parse(parser)


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'Checkpoint not found: {args.checkpoint}')
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    check_data_paths(cfg, splits=('test', ))
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out and runner.rank == 0:
        with open(args.out, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)
    finish()


if __name__ == '__main__':
    main()
