"""Loading an ImageNet classifier checkpoint into a dense backbone.

A classifier checkpoint may hold two sets of weights: the trained ones and an
exponential moving average of them (EMA). :func:`select_weights` reads every
layout mmvig meets:

* mmengine with ``EMAHook`` (mmvig's ImageNet configs): the hook swaps the
  averaged weights into ``state_dict`` before saving and keeps the trained
  ones under ``ema_state_dict`` (keys prefixed ``module.``);
* timm's ``train.py`` and the authors' GreedyViG ``main.py``: ``state_dict``
  and ``state_dict_ema``;
* DeiT's ``main.py``: ``model`` and ``model_ema``;
* a plain state dict, or a checkpoint with only ``state_dict`` / ``model``.
"""
from typing import Dict, Optional, Tuple

import torch
from mmengine.logging import MMLogger
from torch import nn

from ..checkpoint import load_checkpoint

StateDict = Dict[str, torch.Tensor]
WEIGHTS = ('auto', 'ema', 'raw')


class CheckpointMismatchError(ValueError):
    """A checkpoint does not hold the weights of the module it is loaded into."""


def select_weights(checkpoint: dict, weights: str = 'auto'
                   ) -> Tuple[StateDict, str]:
    """The state dict to load from a checkpoint, and what it is.

    Args:
        checkpoint: A loaded checkpoint (any layout in the module docstring).
        weights: ``'auto'`` (the EMA weights when the checkpoint has them,
            else the trained ones), ``'ema'`` or ``'raw'`` (the trained ones).

    Returns:
        tuple: the state dict and a description naming the weights and
        where they were found, for the log.

    Raises:
        ValueError: ``weights`` is unknown, or ``'ema'`` is asked of a
            checkpoint without EMA weights.
    """
    if weights not in WEIGHTS:
        raise ValueError(f'weights must be one of {WEIGHTS}, got {weights!r}')
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(
            f'expected a checkpoint dict, got {type(checkpoint).__name__}')
    ema: Optional[Tuple[StateDict, str]] = None
    if 'ema_state_dict' in checkpoint and 'state_dict' in checkpoint:
        ema = (checkpoint['state_dict'],
               "EMA weights ('state_dict' of an mmengine EMAHook checkpoint)")
        raw = ({k[len('module.'):]: v
                for k, v in checkpoint['ema_state_dict'].items()
                if k.startswith('module.')},
               "trained weights ('ema_state_dict' of an mmengine EMAHook "
               'checkpoint)')
    else:
        for key, ema_key in (('state_dict', 'state_dict_ema'),
                             ('model', 'model_ema')):
            if key in checkpoint:
                raw = (checkpoint[key], f"trained weights ('{key}')")
                if checkpoint.get(ema_key):
                    ema = (checkpoint[ema_key], f"EMA weights ('{ema_key}')")
                break
        else:
            raw = (checkpoint, 'weights (a plain state dict)')
    if weights == 'ema' and ema is None:
        raise ValueError('weights=ema, but the checkpoint holds no EMA '
                         f'weights (its keys: {sorted(checkpoint)[:8]})')
    if weights == 'raw' or ema is None:
        return raw
    return ema


def _strip_prefix(state_dict: StateDict, prefix: Optional[str]) -> StateDict:
    if prefix is None:
        # An mmpretrain classifier checkpoint keeps the backbone under
        # 'backbone.'; a bare backbone checkpoint has no prefix.
        has_backbone = any(k.startswith('backbone.') for k in state_dict)
        prefix = 'backbone.' if has_backbone else ''
    if prefix and not prefix.endswith('.'):
        prefix += '.'
    return {k[len(prefix):]: v for k, v in state_dict.items()
            if k.startswith(prefix)}


def load_pretrained_backbone(module: nn.Module, checkpoint: str,
                             prefix: Optional[str] = None,
                             weights: str = 'auto') -> None:
    """Load the weights under ``prefix`` of ``checkpoint`` into ``module``.

    Every parameter and buffer of ``module`` must be found with the right
    shape; keys the module does not have (a classifier head, say) are logged
    and skipped. The log names the file and which weights were loaded.

    Args:
        module: The backbone.
        checkpoint: Path or URL (loaded by :func:`mmvig.checkpoint.
            load_checkpoint`, safely).
        prefix: Key prefix of the backbone in the checkpoint; ``None`` picks
            ``'backbone.'`` when present, else no prefix.
        weights: ``'auto'``: the EMA weights when the checkpoint holds them
            (what the authors' detection and segmentation code loads), else
            the trained ones; ``'ema'`` or ``'raw'`` to insist on one.

    Raises:
        CheckpointMismatchError: a key is missing or has the wrong shape.
    """
    logger = MMLogger.get_current_instance()
    ckpt = load_checkpoint(checkpoint)
    try:
        state_dict, which = select_weights(ckpt, weights)
    except CheckpointMismatchError as error:
        raise CheckpointMismatchError(f'{checkpoint}: {error}') from None
    state_dict = _strip_prefix(state_dict, prefix)
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    wrong_shape = sorted(
        f'{k}: checkpoint {tuple(state_dict[k].shape)} vs model '
        f'{tuple(own[k].shape)}' for k in set(own) & set(state_dict)
        if state_dict[k].shape != own[k].shape)
    if missing or wrong_shape:
        details = '\n  '.join(
            [f'missing: {k}' for k in missing[:10]] +
            ([f'... and {len(missing) - 10} more missing'] if len(missing) > 10
             else []) + wrong_shape[:10])
        raise CheckpointMismatchError(
            f'{checkpoint} (prefix {prefix!r}) does not match '
            f'{type(module).__name__}: {len(missing)} missing keys, '
            f'{len(wrong_shape)} with the wrong shape. Check that the arch '
            f'matches the checkpoint and the prefix is right.\n  {details}')
    unexpected = sorted(set(state_dict) - set(own))
    if unexpected:
        logger.info(f'Ignored {len(unexpected)} checkpoint keys the '
                    f'{type(module).__name__} does not have, e.g. '
                    f'{unexpected[:3]}')
    module.load_state_dict(state_dict, strict=False)
    logger.info(f'Loaded {len(own)} tensors of {type(module).__name__} from '
                f'{checkpoint}: the {which}')
