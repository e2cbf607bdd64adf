"""Loading an ImageNet classifier checkpoint into a dense backbone."""
from typing import Dict, Optional

import torch
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn


class CheckpointMismatchError(ValueError):
    """A checkpoint does not hold the weights of the module it is loaded into."""


def _strip_prefix(state_dict: Dict[str, torch.Tensor],
                  prefix: Optional[str]) -> Dict[str, torch.Tensor]:
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
                             prefix: Optional[str] = None) -> None:
    """Load the weights under ``prefix`` of ``checkpoint`` into ``module``.

    Every parameter and buffer of ``module`` must be found with the right
    shape; keys the module does not have (a classifier head, say) are logged
    and skipped.

    Args:
        module: The backbone.
        checkpoint: Path or URL understood by mmengine's checkpoint loader.
        prefix: Key prefix of the backbone in the checkpoint; ``None`` picks
            ``'backbone.'`` when present, else no prefix.

    Raises:
        CheckpointMismatchError: a key is missing or has the wrong shape.
    """
    logger = MMLogger.get_current_instance()
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    state_dict = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(state_dict, dict):
        raise CheckpointMismatchError(
            f'{checkpoint} holds no state dict (got {type(state_dict)})')
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
                f'{checkpoint}')
