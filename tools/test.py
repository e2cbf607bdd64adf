"""Evaluate a checkpoint with an mmpretrain, mmdet or mmseg config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
                         [--weights auto|ema|raw]
"""
import argparse
import json

from mmengine.hooks import Hook
from tool_utils import (add_common_args, build_runner, finish, load_config,
                        parse, tool_environment)

import mmvig  # noqa: F401  (registers mmvig's modules)
from mmvig.apis import report_input_errors
from mmvig.datasets import check_data_paths
from mmvig.models.pretrained import WEIGHTS, select_weights
from mmvig.safe_load import check_checkpoint_file


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the metrics to this json file')
    parser.add_argument(
        '--weights',
        choices=WEIGHTS,
        default='auto',
        help="which weights of a checkpoint with an EMA: 'auto' and 'ema' "
        "evaluate the EMA weights, 'raw' the trained ones")
    add_common_args(parser)
    return parse(parser)


class SelectWeightsHook(Hook):
    """Puts the chosen weights of the loaded checkpoint in its state_dict
    before they reach the model (and any EMA hook of the config)."""

    def __init__(self, weights: str) -> None:
        self.weights = weights

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['state_dict'], which = select_weights(
            checkpoint, self.weights)
        runner.logger.info(f'Evaluating the {which}')


def main() -> None:
    args = parse_args()
    runner = []
    with report_input_errors(runner):
        test(args, runner)
    finish(runner)


def test(args: argparse.Namespace, runner: list) -> None:
    check_checkpoint_file(args.checkpoint)
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if cfg.model.get('teacher') is not None:
        cfg.model.teacher = None  # a distillation teacher only trains
    check_data_paths(cfg, splits=('test', ))
    runner.append(build_runner(cfg))
    runner[0].register_hook(
        SelectWeightsHook(args.weights), priority='HIGHEST')
    metrics = runner[0].test()
    if args.out and runner[0].rank == 0:
        with open(args.out, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)


if __name__ == '__main__':
    with tool_environment():
        main()
