"""Build a model from any mmvig config, with a checkpoint, for the analysis
and deploy tools: a classifier (mmpretrain), detector (mmdet), segmentor
(mmseg), whatever the config's ``default_scope`` says."""
import importlib
from typing import Optional, Union

from mmengine.config import Config
from mmengine.registry import DefaultScope
from torch import nn

from .safe_load import read_checkpoint
from .errors import InputError
from .models.pretrained import (check_state_dict, select_weights,
                                without_module_prefix)


def init_model(config: Union[str, Config], checkpoint: Optional[str] = None,
               weights: str = 'auto') -> nn.Module:
    """The config's model in eval mode, with ``checkpoint``'s weights.

    The backbone's own ``Pretrained`` init and a distillation teacher are
    left out (the checkpoint holds the trained weights). Every key of the
    model must be in the checkpoint with its shape.

    Args:
        config: Path of an mmvig (or any OpenMMLab) config, or the config.
        checkpoint: A checkpoint of that config (``None``: initialised).
        weights: ``'auto'`` (EMA weights when present), ``'ema'``, ``'raw'``.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    scope = cfg.get('default_scope', 'mmengine')
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:  # mmpretrain's layout
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model_cfg.pop('teacher', None)
    model_cfg.pop('pretrained', None)
    if isinstance(model_cfg.get('backbone'), dict):
        model_cfg.backbone.pop('init_cfg', None)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(model_cfg)
    if checkpoint is not None:
        ckpt = read_checkpoint(checkpoint)
        state_dict = without_module_prefix(select_weights(ckpt, weights)[0])
        check_state_dict(model.state_dict(), state_dict, checkpoint,
                         type(model).__name__,
                         'Is it a checkpoint of this config?')
        model.load_state_dict(state_dict, strict=False)
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        if meta.get('dataset_meta'):
            model.dataset_meta = meta['dataset_meta']
    return model.eval()


def attention_vig_backbone(model: nn.Module) -> nn.Module:
    """The AttentionViG of a classifier, detector, segmentor or backbone."""
    from .models.attention_vig import AttentionViG
    backbone = getattr(model, 'backbone', model)
    if not isinstance(backbone, AttentionViG):
        raise InputError(f'{type(model).__name__} has no AttentionViG '
                         f'backbone (found {type(backbone).__name__})')
    return backbone
