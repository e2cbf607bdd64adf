"""Train a model from an mmpretrain, mmdet or mmseg config.

The config's ``default_scope`` decides which library runs it; mmvig is
imported first, so ``type='AttentionViG'`` resolves in any of them. Before
anything is built, the data paths and checkpoints the config names must
exist; a checkpoint loaded into the model (``load_from``, ``--resume``)
must fit it (``--partial-load`` loads what matches), and the training data
are checked once built. Such errors print one message, not a traceback.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                          [--partial-load]
"""
import argparse

from tool_utils import (add_common_args, build_runner, check_checkpoints,
                        check_last_checkpoint, finish, load_config, parse,
                        tool_environment)

import mmvig  # noqa: F401  (registers mmvig's modules)
from mmvig.apis import report_input_errors
from mmvig.datasets import check_data_paths
from mmvig.errors import InputError


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic mixed precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the actual total batch size')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='skip validation during training')
    parser.add_argument(
        '--partial-load',
        action='store_true',
        help='load the part of a load_from checkpoint that matches the model '
        '(default: a checkpoint that does not fit stops the run)')
    add_common_args(parser)
    return parse(parser)


def main() -> None:
    args = parse_args()
    runner = []
    with report_input_errors(runner):
        train(args, runner)
    finish(runner)


def train(args: argparse.Namespace, runner: list) -> None:
    cfg = load_config(args)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.resume is not None and args.partial_load:
        raise InputError(
            '--partial-load loads the part of a load_from checkpoint that '
            'matches the model; --resume continues the same run (model, '
            'optimizer, schedule) and needs a checkpoint of this config. To '
            "start this config from another model's checkpoint, pass "
            '--cfg-options load_from=CKPT --partial-load without --resume.')
    if args.resume == 'auto':
        check_last_checkpoint(cfg.work_dir)
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    check_data_paths(
        cfg, splits=('train', ) if args.no_validate else ('train', 'val'))
    if not cfg.resume:
        check_checkpoints(cfg)
    runner.append(build_runner(cfg, partial_load=args.partial_load))
    runner[0].train()


if __name__ == '__main__':
    with tool_environment():
        main()
