"""What mmvig's backbones share: four output levels (strides 4, 8, 16, 32),
frozen stages, ``norm_eval`` and checked ``Pretrained`` loading."""
import numbers
from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import nn

from ..errors import InputError
from ..seams import BATCH_NORM
from ..typing_utils import ConfigType
from .pretrained import (check_weight_kinds, load_pretrained_backbone,
                         non_finite_tensors)


def check_bool(value: Any, name: str) -> bool:
    """``value`` itself if it is a bool; an :class:`InputError` otherwise
    (a string such as ``'no'`` or ``'false'`` is truthy, and would turn the
    setting on)."""
    if isinstance(value, bool):
        return value
    hint = (': --cfg-options passes a word other than True or False as '
            'text' if isinstance(value, str) else '')
    raise InputError(f'{name} must be True or False, got {value!r}{hint}')


def check_int(value: Any,
              name: str,
              low: Optional[int] = None,
              high: Optional[int] = None) -> int:
    """``value`` as an int if it is an integer in ``[low, high]``."""
    if low == 1 and high is None and (isinstance(
            value, bool) or not isinstance(value, numbers.Integral)
                                      or value < 1):
        raise InputError(f'{name} must be a positive integer, got {value!r}')
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f'{name} must be an integer, got {value!r}')
    if (low is not None and value < low) or (high is not None
                                             and value > high):
        bounds = f'[{"-inf" if low is None else low}, ' \
                 f'{"inf" if high is None else high}]'
        raise InputError(f'{name} must be in {bounds}, got {value}')
    return int(value)


def check_number(value: Any, name: str) -> float:
    """``value`` as a float if it is a real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f'{name} must be a number, got {value!r}')
    return float(value)


def check_norm_cfg(norm_cfg: Any, channels: Sequence[int], owner: str) -> None:
    """Check that ``norm_cfg`` builds a norm for each of ``channels`` that
    normalises ``(B, C, H, W)`` maps, as the conv blocks of ``owner`` need
    (``dict(type='LN')`` normalises the last axis and is refused here, not
    at the first forward)."""
    if not isinstance(norm_cfg, dict) or 'type' not in norm_cfg:
        raise InputError(f"{owner}'s norm_cfg must be a dict with a type, "
                         f'got {norm_cfg!r}')
    for width in sorted(set(channels)):
        try:
            with torch.device('meta'):
                layer = build_norm_layer(norm_cfg, width)[1]
            if not isinstance(layer, nn.SyncBatchNorm):  # needs a group
                layer.eval()(torch.zeros(2, width, 3, 3, device='meta'))
        except Exception as error:  # noqa: BLE001 -- any failure is the cfg's
            raise InputError(
                f"{owner}'s norm_cfg {norm_cfg} cannot normalise its "
                f'(B, {width}, H, W) feature maps ({type(error).__name__}: '
                f'{error}); use a 2-D norm such as BN, SyncBN, GN or IN'
            ) from None


class PyramidBackbone(BaseModule):
    """Base of the mmvig backbones, following the mmpretrain/mmdet conventions.

    A subclass sets ``out_indices`` with :meth:`_parse_out_indices`,
    ``frozen_stages`` with :meth:`_check_frozen_stages` and ``norm_eval``,
    and lists what ``frozen_stages`` freezes in :meth:`_frozen`; it calls
    :meth:`_freeze_stages` at the end of ``__init__``.

    Args:
        init_cfg: Init config; ``dict(type='Pretrained', checkpoint=PATH,
            prefix='backbone.')`` loads a checkpoint whose keys must cover
            the whole backbone: its EMA weights when it has them, which
            ``weights='raw'`` in the dict overrides; ``fresh=REGEX`` names
            the keys that keep their initialisation instead (see
            :func:`~mmvig.models.pretrained.load_pretrained_backbone`).
    """

    num_stages = 4
    # Key prefixes a Pretrained checkpoint may lack (initialised instead).
    optional_checkpoint_keys: Tuple[str, ...] = ()

    def __init__(self, init_cfg: Optional[ConfigType] = None) -> None:
        super().__init__(init_cfg=init_cfg)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        """Refuse weights that are not all finite numbers (a run that
        diverged, a damaged file), on every path that loads them. Only the
        backbone's own keys with its shapes are read (torch reports the
        others), and none larger than its storage."""
        own = {
            prefix + name: value
            for name, value in self.state_dict(keep_vars=True).items()
        }
        check_weight_kinds(state_dict, own)
        bad = non_finite_tensors(state_dict, {
            k: v.shape
            for k, v in own.items()
        })
        if bad:
            first = state_dict[bad[0]]
            shown = first.tolist() if first.numel() == 1 else (
                'nan' if torch.isnan(
                    first.to(torch.complex128 if first.is_complex() else torch.
                             float64)).any() else 'inf')
            raise InputError(
                f'{len(bad)} tensor(s) of the weights are not finite, first '
                f'{bad[0]} ({shown}): weights must be finite. The checkpoint '
                'comes from a run that diverged or is damaged.')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _arch_settings(self, arch: Union[str, dict], model: str,
                       required: Sequence[str]) -> dict:
        """A copy of the settings of ``arch``: a name of ``arch_zoo`` (any
        case), or a dict holding at least the ``required`` keys (checked
        further by the model).

        Raises:
            InputError: an unknown name, or a dict without those keys.
        """
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise InputError(
                    f'Unknown {model} arch {arch!r}; choose one of '
                    f'{sorted(self.arch_zoo)} or pass a dict with the keys '
                    f'{sorted(required)}')
            return dict(self.arch_zoo[arch.lower()])
        if not isinstance(arch, dict) or not set(required) <= set(arch):
            raise InputError(f'A custom {model} arch must be a dict with the '
                             f'keys {sorted(required)}, got {arch!r}')
        return dict(arch)

    def _parse_out_indices(self,
                           out_indices: Sequence[int]) -> Tuple[int, ...]:
        if isinstance(out_indices, numbers.Integral):
            out_indices = [out_indices]
        if not isinstance(out_indices, (list, tuple)):
            raise InputError('out_indices must be an int or a list/tuple of '
                             f'ints, got {out_indices!r}')
        if not out_indices:
            raise InputError('out_indices is empty: name at least one output '
                             f'level (0-{self.num_stages - 1})')
        parsed = []
        for index in out_indices:
            if isinstance(index, bool) or \
                    not isinstance(index, numbers.Integral):
                raise InputError('out_indices must be integers, got '
                                 f'{index!r} in {out_indices!r}')
            if not -self.num_stages <= index < self.num_stages:
                raise InputError(f'out_indices must be in [-{self.num_stages},'
                                 f' {self.num_stages - 1}], got {index}')
            parsed.append(int(index) % self.num_stages)
        return tuple(sorted(set(parsed)))

    @staticmethod
    def _check_drop_path_rate(rate: float) -> float:
        rate = check_number(rate, 'drop_path_rate')
        if not 0 <= rate < 1:
            raise InputError(f'drop_path_rate must be in [0, 1), got {rate}')
        return rate

    def _check_frozen_stages(self, frozen_stages: int) -> int:
        return check_int(frozen_stages, 'frozen_stages', -1, self.num_stages)

    def _frozen(self) -> Tuple[List[nn.Module], List[nn.Parameter]]:
        """Modules (kept in eval mode) and loose parameters that
        ``frozen_stages`` freezes."""
        return [], []

    def _freeze_stages(self) -> None:
        modules, params = self._frozen()
        for module in modules:
            module.eval()
            params += list(module.parameters())
        for param in params:
            param.requires_grad = False

    def train(self, mode: bool = True) -> 'PyramidBackbone':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, BATCH_NORM):
                    module.eval()
        return self

    def _load_pretrained(self) -> bool:
        """Load the ``Pretrained`` init_cfg, if that is what it is."""
        if not (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            return False
        load_pretrained_backbone(
            self,
            self.init_cfg['checkpoint'],
            self.init_cfg.get('prefix'),
            self.init_cfg.get('weights', 'auto'),
            optional=self.optional_checkpoint_keys,
            fresh=self.init_cfg.get('fresh'))
        self._is_init = True
        return True

    def init_weights(self) -> None:
        if not self._load_pretrained():
            super().init_weights()
