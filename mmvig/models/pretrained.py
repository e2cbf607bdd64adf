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
* a plain state dict, or a checkpoint with only ``state_dict`` / ``model``;

and keys with the ``module.`` prefix of a DDP-wrapped model saved without
mmengine.
"""
import re
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.logging import MMLogger
from torch import nn

from ..errors import CheckpointFileError, CheckpointMismatchError, InputError
from ..safe_load import oversized_tensor, read_checkpoint

StateDict = Dict[str, torch.Tensor]
WEIGHTS = ('auto', 'ema', 'raw')


def select_weights(checkpoint: dict,
                   weights: str = 'auto') -> Tuple[StateDict, str]:
    """The state dict to load from a checkpoint, and what it is.

    Args:
        checkpoint: A loaded checkpoint (any layout in the module docstring).
        weights: ``'auto'`` (the EMA weights when the checkpoint has them,
            else the trained ones), ``'ema'`` or ``'raw'`` (the trained ones).

    Returns:
        tuple: the state dict and a description naming the weights and
        where they were found, for the log.

    Raises:
        InputError: ``weights`` is unknown, or ``'ema'`` is asked of a
            checkpoint without EMA weights.
    """
    if weights not in WEIGHTS:
        raise InputError(f'weights must be one of {WEIGHTS}, got {weights!r}')
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(
            f'expected a checkpoint dict, got {type(checkpoint).__name__}')
    ema: Optional[Tuple[StateDict, str]] = None
    if 'ema_state_dict' in checkpoint and 'state_dict' in checkpoint:
        ema = (checkpoint['state_dict'],
               "EMA weights ('state_dict' of an mmengine EMAHook checkpoint)")
        raw = ({
            k[len('module.'):]: v
            for k, v in checkpoint['ema_state_dict'].items()
            if k.startswith('module.')
        }, "trained weights ('ema_state_dict' of an mmengine EMAHook "
               'checkpoint)')
    else:
        for key, ema_key in (('state_dict', 'state_dict_ema'), ('model',
                                                                'model_ema')):
            if key in checkpoint:
                raw = (checkpoint[key], f"trained weights ('{key}')")
                if checkpoint.get(ema_key):
                    ema = (checkpoint[ema_key], f"EMA weights ('{ema_key}')")
                break
        else:
            raw = (checkpoint, 'weights (a plain state dict)')
    if weights == 'ema' and ema is None:
        raise InputError('weights=ema, but the checkpoint holds no EMA '
                         f'weights (its keys: {sorted(checkpoint)[:8]})')
    if weights == 'raw' or ema is None:
        return raw
    return ema


def _all_finite(tensor: torch.Tensor) -> bool:
    """Whether every value of a floating-point or complex tensor is finite,
    for every such dtype (float8 and float4 have no ``isfinite`` kernel:
    they are read as float32)."""
    try:
        return bool(torch.isfinite(tensor).all())
    except NotImplementedError:
        return bool(torch.isfinite(tensor.float()).all())


def non_finite_tensors(
        state_dict: StateDict,
        shapes: Optional[Dict[str, torch.Size]] = None) -> List[str]:
    """Keys of floating-point or complex tensors that hold NaN or infinity.

    Args:
        state_dict: The weights to check.
        shapes: When given, only these keys are checked, and only where the
            tensor has the shape given (a model's own keys: a checkpoint's
            other entries are not read).

    Raises:
        CheckpointFileError: with ``shapes``, a checked tensor has more
            elements than its storage (repeated by its strides; checking it
            would allocate them all), or a dtype no value of which can be
            read.
    """
    bad = []
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor) or not (
                value.is_floating_point() or value.is_complex()):
            continue
        if shapes is not None and shapes.get(key) != value.shape:
            continue
        stored = None if shapes is None else oversized_tensor(value)
        if stored is not None:
            raise CheckpointFileError(
                f'the weight {key} has {value.numel():,} elements over a '
                f'storage of {stored:,} (strides that repeat them): the '
                'checkpoint is crafted or damaged.')
        try:
            finite = _all_finite(value)
        except (NotImplementedError, RuntimeError):
            raise CheckpointFileError(
                f'the weight {key} is {value.dtype}, which torch cannot '
                'read as numbers here: the checkpoint is not of this '
                'model.') from None
        if not finite:
            bad.append(key)
    return bad


def check_weight_kinds(state_dict: StateDict, own: Dict[str,
                                                        torch.Tensor]) -> None:
    """Refuse a complex tensor for one of ``own``'s real tensors (of the
    same shape): loading it would drop its imaginary part without a word.

    Raises:
        CheckpointMismatchError: naming the key and both dtypes.
    """
    for key, mine in own.items():
        value = state_dict.get(key)
        if isinstance(value, torch.Tensor) and value.shape == mine.shape \
                and value.is_complex() and not mine.is_complex():
            raise CheckpointMismatchError(
                f'the weight {key} is complex ({value.dtype}) where the '
                f"model's is real ({mine.dtype}): the checkpoint is not of "
                'this model, or is damaged.')


def without_module_prefix(state_dict: StateDict) -> StateDict:
    """Keys without the ``module.`` a DDP-wrapped model saves them with."""
    return {
        k[len('module.'):] if k.startswith('module.') else k: v
        for k, v in state_dict.items()
    }


def check_state_dict(own: StateDict, loaded: StateDict, source: str,
                     target: str, hint: str) -> None:
    """Raise when ``loaded`` lacks a key of ``own`` or has another shape.

    Args:
        own: The model's state dict.
        loaded: The checkpoint's.
        source: Where ``loaded`` comes from (file, prefix), for the message.
        target: What it is loaded into, for the message.
        hint: What the user can check, appended to the message.

    Raises:
        CheckpointMismatchError: listing up to 10 missing keys and 10 wrong
            shapes.
    """
    missing = sorted(set(own) - set(loaded))
    wrong_shape = sorted(
        f'{k}: checkpoint {tuple(loaded[k].shape)} vs model '
        f'{tuple(own[k].shape)}' for k in set(own) & set(loaded)
        if hasattr(loaded[k], 'shape') and loaded[k].shape != own[k].shape)
    if not (missing or wrong_shape):
        return
    details = '\n  '.join(
        [f'missing: {k}' for k in missing[:10]] +
        ([f'... and {len(missing) - 10} more missing'] if len(missing) >
         10 else []) + wrong_shape[:10] +
        ([f'... and {len(wrong_shape) - 10} more with the wrong shape']
         if len(wrong_shape) > 10 else []))
    raise CheckpointMismatchError(
        f'{source} does not match {target}: {len(missing)} missing keys, '
        f'{len(wrong_shape)} with the wrong shape. {hint}\n  {details}')


def _strip_prefix(state_dict: StateDict, prefix: Optional[str]) -> StateDict:
    if prefix is None:
        # An mmpretrain classifier checkpoint keeps the backbone under
        # 'backbone.'; a bare backbone checkpoint has no prefix.
        has_backbone = any(k.startswith('backbone.') for k in state_dict)
        prefix = 'backbone.' if has_backbone else ''
    if prefix and not prefix.endswith('.'):
        prefix += '.'
    return {
        k[len(prefix):]: v
        for k, v in state_dict.items() if k.startswith(prefix)
    }


def load_pretrained_backbone(module: nn.Module,
                             checkpoint: str,
                             prefix: Optional[str] = None,
                             weights: str = 'auto',
                             optional: Sequence[str] = (),
                             fresh: Optional[str] = None) -> None:
    """Load the weights under ``prefix`` of ``checkpoint`` into ``module``.

    Every parameter and buffer of ``module`` must be found with the right
    shape, but those ``fresh`` names; keys the module does not have (a
    classifier head, say) are logged and skipped. The log names the file,
    which weights were loaded, and how many tensors and parameters came from
    it and which started fresh.

    Args:
        module: The backbone.
        checkpoint: Path or URL (loaded by :func:`mmvig.safe_load.
            read_checkpoint`, safely).
        prefix: Key prefix of the backbone in the checkpoint; ``None`` picks
            ``'backbone.'`` when present, else no prefix.
        weights: ``'auto'``: the EMA weights when the checkpoint holds them
            (what the authors' detection and segmentation code loads), else
            the trained ones; ``'ema'`` or ``'raw'`` to insist on one.
        optional: Key prefixes the checkpoint may lack; those tensors keep
            their initialisation (logged).
        fresh: A regular expression: the module's keys it matches in full
            keep their initialisation, whether or not the checkpoint has
            them (a model started from a relative's weights: AttentionViG
            from GreedyViG, whose aggregation differs).

    Raises:
        CheckpointMismatchError: a key is missing or has the wrong shape.
    """
    logger = MMLogger.get_current_instance()
    ckpt = read_checkpoint(checkpoint)
    try:
        state_dict, which = select_weights(ckpt, weights)
    except CheckpointMismatchError as error:
        raise CheckpointMismatchError(f'{checkpoint}: {error}') from None
    state_dict = _strip_prefix(without_module_prefix(state_dict), prefix)
    own = module.state_dict()
    kept = sorted(
        k for k in set(own) - set(state_dict) if k.startswith(tuple(optional)))
    if fresh is not None:
        kept = sorted(set(kept) | {k for k in own if re.fullmatch(fresh, k)})
        state_dict = {k: v for k, v in state_dict.items() if k not in kept}
    check_state_dict(
        {
            k: v
            for k, v in own.items() if k not in kept
        }, state_dict, f'{checkpoint} (prefix {prefix!r})',
        type(module).__name__,
        'Check that the arch matches the checkpoint and the prefix is right.')
    unexpected = sorted(set(state_dict) - set(own))
    if unexpected:
        logger.info(f'Ignored {len(unexpected)} checkpoint keys the '
                    f'{type(module).__name__} does not have, e.g. '
                    f'{unexpected[:3]}')
    module.load_state_dict(state_dict, strict=False)
    params = dict(module.named_parameters())
    loaded = sum(p.numel() for k, p in params.items() if k not in kept)
    logger.info(f'Loaded {len(own) - len(kept)} tensors of '
                f'{type(module).__name__} ({loaded} parameters) from '
                f'{checkpoint}: the {which}')
    if kept:
        new = sum(p.numel() for k, p in params.items() if k in kept)
        logger.info(f'{len(kept)} tensors ({new} parameters) keep their '
                    f'initialisation: {kept}')
