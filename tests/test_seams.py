"""mmvig/seams.py: each use of another library's internals, and what it
relies on in the installed release."""
import pytest

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
