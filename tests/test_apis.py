"""mmvig.apis: read_config leaves out setuptools' pkg_resources warning for
its own call only; report_input_errors is the one place that turns an mmvig
error into a tool's one-line message."""
import pickle
import warnings

import pytest
from mmengine.config import Config

from mmvig.apis import read_config, report_input_errors
from mmvig.errors import DivergenceError, InputError, RegistrationClash
from mmvig.safe_load import TRUST_SWITCH, UnsafeCheckpointError


def test_read_config_leaves_out_only_the_pkg_resources_warning(
        monkeypatch, tmp_path):

    def fromfile(filename):
        warnings.warn('pkg_resources is deprecated as an API', UserWarning)
        warnings.warn('a warning of the config', UserWarning)
        return Config(dict(a=1))

    monkeypatch.setattr(Config, 'fromfile', staticmethod(fromfile))
    (tmp_path / 'any.py').write_text('a = 1\n')
    filters = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert read_config(str(tmp_path / 'any.py')).a == 1
        warnings.warn('pkg_resources is deprecated as an API', UserWarning)
    assert [str(w.message) for w in caught] == [
        'a warning of the config', 'pkg_resources is deprecated as an API'
    ]
    assert warnings.filters == filters


@pytest.mark.parametrize(
    'error, message',
    [
        (InputError('arch "x" is not one of s, m, b'),
         'error: arch "x" is not one of s, m, b'),
        (FileNotFoundError('data/coco does not exist'),
         'error: data/coco does not exist'),
        (DivergenceError('loss is nan at iteration 3'),
         'error: loss is nan at iteration 3'),
        (RegistrationClash('AttentionViG is taken'),
         "error: 'AttentionViG is taken'"),
        # a data loader worker's error: the worker's traceback, then its words
        (InputError('Caught InputError in DataLoader worker process 0.\n'
                    'Original Traceback (most recent call last):\n  ...\n'
                    'mmvig.errors.InputError: x.png is empty (0 bytes)'),
         'error: x.png is empty (0 bytes)'),
        (UnsafeCheckpointError('x.pth holds a pickled os.system'),
         'error: x.pth holds a pickled os.system'),
    ])
def test_input_errors_end_with_one_line(error, message):
    with pytest.raises(SystemExit) as exit_:
        with report_input_errors():
            raise error
    assert exit_.value.code == message


def test_a_refusal_of_mmengines_loader_names_the_way_out():
    with pytest.raises(SystemExit) as exit_:
        with report_input_errors():
            raise pickle.UnpicklingError(
                'Weights only load failed. Unsupported global: '
                'GLOBAL posix.system')
    text = exit_.value.code
    assert text.startswith('error: refused to load a checkpoint: ')
    assert f'{TRUST_SWITCH}=1' in text


def test_other_errors_keep_their_traceback():
    with pytest.raises(RuntimeError, match='a bug'):
        with report_input_errors():
            raise RuntimeError('a bug')
    with report_input_errors():
        pass


def test_a_missing_config_is_named(tmp_path):
    missing = str(tmp_path / 'nope.py')
    with pytest.raises(InputError, match=f'config file not found: {missing}'):
        read_config(missing)
