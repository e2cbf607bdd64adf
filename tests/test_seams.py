"""mmvig/seams.py: each use of another library's internals, and what it
relies on in the installed release."""
import argparse

import numpy as np
import pytest
import torch

from mmvig import seams
from mmvig.apis import read_config
from mmvig.stack import installed_stack

SEG_CONFIG = 'configs/fpn_attentionvig_s_ade20k.py'


def test_mmengine_finds_scoped_bases_by_module2package():
    from mmengine.config import utils
    assert isinstance(getattr(utils, 'MODULE2PACKAGE', None), dict) and \
        'mmseg' in utils.MODULE2PACKAGE, (
            'mmengine.config.utils.MODULE2PACKAGE (module -> distribution '
            'of `scope::` base configs) is gone or lacks mmseg: '
            'mmvig.seams.config_package_names must follow mmengine')


def test_config_package_names_maps_mmseg_to_the_fork_only_there(monkeypatch):
    from mmengine.config import utils
    before = dict(utils.MODULE2PACKAGE)
    with seams.config_package_names():
        assert utils.MODULE2PACKAGE['mmseg'] == ('onedl-mmsegmentation' if
                                                 installed_stack() == 'onedl'
                                                 else 'mmsegmentation')
    assert utils.MODULE2PACKAGE == before
    installed = {'onedl-mmsegmentation'}  # the fork, as on its stack
    monkeypatch.setattr(seams, '_is_distribution', installed.__contains__)
    with pytest.raises(RuntimeError, match='inside'):
        with seams.config_package_names():
            assert utils.MODULE2PACKAGE['mmseg'] == 'onedl-mmsegmentation'
            raise RuntimeError('inside')
    assert utils.MODULE2PACKAGE == before


def test_mmseg_bases_load_on_this_stack():
    from mmengine.config import Config
    assert read_config(SEG_CONFIG).model.type == 'EncoderDecoder'
    if installed_stack() == 'onedl':
        # onedl-mmengine 0.10.12 alone: `mmseg::` names the distribution
        # mmsegmentation, which the fork calls onedl-mmsegmentation. When
        # this passes, the fork has fixed it and the seam can go.
        with pytest.raises(ModuleNotFoundError, match='mmsegmentation'):
            Config.fromfile(SEG_CONFIG)


def test_mmengine_loader_allowlist_on_this_stack():
    names = seams.mmengine_loader_allowlist()
    if installed_stack() == 'onedl':
        assert {
            'numpy.ndarray', 'numpy.dtype',
            'mmengine.logging.history_buffer.HistoryBuffer'
        } <= set(names), ('onedl-mmengine no longer admits numpy and '
                          'HistoryBuffer in get_torch_safe_globals: '
                          f'{names}; mmvig.safe_load.'
                          'allow_training_checkpoint_types may register its '
                          'stand-ins there again')
    else:
        assert names == [], (
            'upstream mmengine now admits types for its loads '
            f'({names}): check they share no name with mmvig.safe_load.'
            'safe_types()')


def test_batch_norm_is_the_base_of_torchs_batch_norms():
    from mmcv.cnn import build_norm_layer
    for norm in (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d,
                 torch.nn.SyncBatchNorm, torch.nn.LazyBatchNorm2d):
        assert issubclass(norm, seams.BATCH_NORM), (
            f'torch.nn.modules.batchnorm._BatchNorm is no longer the base of '
            f'{norm.__name__}: mmvig.seams.BATCH_NORM must follow torch')
    assert isinstance(
        build_norm_layer(dict(type='BN'), 4)[1], seams.BATCH_NORM)
    assert not isinstance(torch.nn.GroupNorm(1, 4), seams.BATCH_NORM)


def test_torch_unpickler_calls_the_stand_ins_from_its_load(tmp_path):
    """mmvig's stand-ins accept a call only from the frame that runs
    ``TORCH_UNPICKLER.load`` (mmvig.safe_load.stand_ins._unpickler): a numpy
    value loads, and the same stand-in called from anywhere else is
    refused."""
    import pickle

    from mmvig.safe_load import read_checkpoint
    from mmvig.safe_load.stand_ins import _reconstruct
    path = str(tmp_path / 'numpy.pth')
    torch.save({'x': np.arange(3)}, path)
    assert read_checkpoint(path)['x'].tolist() == [
        0, 1, 2
    ], ("torch's weights-only unpickler no longer calls REDUCE targets from "
        'Unpickler.load: mmvig.safe_load.stand_ins._unpickler\'s frame check '
        'must follow torch (docs/safety.md, "A torch upgrade")')
    with pytest.raises(pickle.UnpicklingError, match='reached through'):
        _reconstruct(np.ndarray, (0, ), b'b')
    assert 'self' in seams.TORCH_UNPICKLER.load.__code__.co_varnames


def test_torch_allowed_globals_as_torch_resolves_them():
    allowed, user = seams.torch_allowed_globals()
    assert 'torch._utils._rebuild_tensor_v2' in allowed
    with torch.serialization.safe_globals([argparse.Namespace]):
        assert seams.torch_allowed_globals()[1]['argparse.Namespace'] is \
            argparse.Namespace
    assert 'argparse.Namespace' not in seams.torch_allowed_globals()[1]


def test_checkpoint_schemes_replaced_for_the_block_only():
    from mmengine.runner.checkpoint import CheckpointLoader
    before = seams.checkpoint_loaders()
    assert 'http://' in before and '' in before, (
        "mmengine.runner.checkpoint.CheckpointLoader._schemes no longer holds "
        'its loaders by prefix: mmvig.seams.checkpoint_schemes must follow')

    def mine(filename, map_location=None):
        return {'read by': filename}

    with seams.checkpoint_schemes(lambda prefix, loader: mine
                                  if prefix == '' else None):
        assert CheckpointLoader.load_checkpoint('x.pth') == {
            'read by': 'x.pth'
        }
        assert seams.checkpoint_loaders()['http://'] is before['http://']
    assert seams.checkpoint_loaders() == before


def test_runner_checkpoint_reads_what_the_runner_was_given(tmp_path):
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Model(BaseModel):

        def forward(self, *args, **kwargs):
            return {}

    runner = Runner(
        model=Model(),
        work_dir=str(tmp_path),
        load_from='a.pth',
        resume=True,
        default_hooks=dict(logger=None))
    assert seams.runner_checkpoint(runner) == ('a.pth', True), (
        "mmengine's Runner no longer keeps load_from / resume as _load_from "
        '/ _resume: mmvig.seams.runner_checkpoint must follow')


def test_model_hub_table():
    from mmpretrain.apis import ModelHub

    from mmvig.models.model_hub import NO_WEIGHTS
    entry = seams.model_hub_entry('attentionvig-s_in1k')
    assert ModelHub.has('attentionvig-s_in1k') and entry is not None and \
        entry.weights == NO_WEIGHTS + 'attentionvig-s_in1k', (
            "mmpretrain's ModelHub no longer keeps its models in "
            '_models_dict: mmvig.seams.model_hub_entry / add_to_model_hub '
            'must follow')
    assert seams.model_hub_entry('no-such-model') is None


def test_private_methods_mmvig_overrides():
    """The private methods mmvig's classes override, with the signature the
    override has (mmvig.seams's module docstring)."""
    import inspect

    from mmengine.hooks import CheckpointHook

    from mmvig.engine.hooks import AtomicCheckpointHook
    params = list(
        inspect.signature(
            CheckpointHook._save_checkpoint_with_step).parameters)
    assert params == ['self', 'runner', 'step', 'meta'] and \
        '_save_checkpoint_with_step' in inspect.getsource(
            CheckpointHook._save_checkpoint), (
                "mmengine's CheckpointHook no longer saves through "
                '_save_checkpoint_with_step(runner, step, meta): '
                'AtomicCheckpointHook must follow')
    assert AtomicCheckpointHook._save_checkpoint_with_step is not \
        CheckpointHook._save_checkpoint_with_step
    params = list(
        inspect.signature(torch.nn.Module._load_from_state_dict).parameters)
    assert params[:3] == [
        'self', 'state_dict', 'prefix'
    ], ("torch.nn.Module._load_from_state_dict's arguments changed: the "
        "backbones' overrides (mmvig/models/base.py, attention_vig.py) must "
        'follow')
