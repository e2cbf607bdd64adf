"""What mmvig's tools (and a user's scripts) call on top of the library:
read a config, build a model from any mmvig config with a checkpoint (a
classifier (mmpretrain), detector (mmdet), segmentor (mmseg), whatever the
config's ``default_scope`` says), and report an error about the user's input
as one line instead of a traceback."""
import contextlib
import importlib
import os.path as osp
import pickle
import sys
import warnings
from typing import Iterator, Optional, Union

from mmengine.config import Config
from mmengine.registry import DefaultScope
from torch import nn

from .engine import checkpoint_being_loaded
from .errors import (INPUT_ERRORS, InputError, UnsafeCheckpointError,
                     error_message)
from .models.pretrained import (check_state_dict, select_weights,
                                without_module_prefix)
from .safe_load import TRUST_SWITCH, read_checkpoint, unpickler_reason
from .seams import config_package_names


def read_config(filename: str) -> Config:
    """``Config.fromfile``, on either OpenMMLab stack: ``mmseg::`` bases
    resolve on the OneDL fork too (:func:`mmvig.seams.config_package_names`),
    and one warning is left out: ``mmdet::``-style base configs make upstream
    mmengine import ``pkg_resources`` (from ``setuptools<82``, a declared
    dependency of mmvig), whose deprecation warning says nothing to the
    user. Other warnings, and other code, are untouched.

    Raises:
        InputError: ``filename`` is not a file.
    """
    if not osp.isfile(filename):
        raise InputError(f'config file not found: {filename}')
    with warnings.catch_warnings():
        warnings.filterwarnings(
            'ignore',
            message='pkg_resources is '
            'deprecated',
            category=UserWarning)
        with config_package_names():
            return Config.fromfile(filename)


@contextlib.contextmanager
def report_input_errors(
        runner_holder: Optional[list] = None) -> Iterator[None]:
    """End the process with one ``error: ...`` line (exit status 1), not a
    traceback, when the block raises an error about the user's input
    (:data:`mmvig.errors.INPUT_ERRORS`) or a checkpoint the safe loader
    refused. Every other error propagates unchanged.

    Args:
        runner_holder: A list that holds the block's runner once it is
            built; a refusal from mmengine's own loader then names the
            checkpoint that runner was loading.
    """
    try:
        yield
    except UnsafeCheckpointError as error:
        sys.exit(f'error: {error}')
    except pickle.UnpicklingError as error:
        where = checkpoint_being_loaded(runner_holder[0]) if runner_holder \
            else 'a checkpoint'
        sys.exit(f'error: refused to load {where}: '
                 f'{unpickler_reason(error)}. A training '
                 'checkpoint holds nothing of the kind, and loading it could '
                 'run code. If you trust this file, run again with '
                 f'{TRUST_SWITCH}=1 in the environment.')
    except INPUT_ERRORS as error:
        sys.exit(f'error: {error_message(error)}')


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
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
    cfg = read_config(config) if isinstance(config, str) else config
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
