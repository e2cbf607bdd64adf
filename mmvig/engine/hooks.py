"""Freezing the attention temperatures (the paper's fine-tuning rule).

On COCO and ADE20K the paper keeps the ``beta`` learned on ImageNet fixed
(Sec. 4.2, Table 9). :class:`FreezeBetaHook` does that for any model whose
modules carry a ``log_beta`` parameter, under mmpretrain, mmdet or mmseg.
"""
import copy
from typing import Iterator, List, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

TEMPERATURE_NAME = 'log_beta'


def temperature_parameters(model: nn.Module
                           ) -> Iterator[Tuple[str, nn.Parameter]]:
    """``(name, parameter)`` of every attention temperature in ``model``."""
    for name, param in model.named_parameters():
        if name.rsplit('.', 1)[-1] == TEMPERATURE_NAME:
            yield name, param


class FreezeBetaHook(Hook):
    """Keep every attention temperature ``beta`` fixed during training.

    Before the run, every ``log_beta`` parameter stops requiring gradients, so
    neither the optimizer (gradient ``None`` means no step and no weight
    decay) nor DDP touches it: ``beta`` stays bit-identical, after a resume
    too. A model already wrapped in DDP is wrapped again, so that DDP does not
    wait for gradients the frozen parameters will never get. A model with no
    temperature is an error: the config asked to freeze something that is not
    there.

    Leave the hook out of ``custom_hooks`` to train ``beta`` (the paper's
    Table 9 ablation).
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        module = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        frozen: List[str] = []
        for name, param in temperature_parameters(module):
            param.requires_grad_(False)
            frozen.append(name)
        if not frozen:
            raise RuntimeError(
                'FreezeBetaHook found no attention temperature '
                f'(`{TEMPERATURE_NAME}` parameter) in {type(module).__name__}.'
                ' Remove the hook from custom_hooks, or use a backbone with '
                'cross-attention aggregation.')
        if is_model_wrapper(runner.model):
            runner.model = runner.wrap_model(
                copy.deepcopy(runner.cfg.get('model_wrapper_cfg')), module)
        runner.logger.info(
            f'FreezeBetaHook: froze {len(frozen)} attention temperatures '
            f'(beta), e.g. {frozen[0]}')
