"""mmvig.models.pretrained: a backbone's pretrained checkpoint is checked
(arch, EMA weights, finite values, prefixes) before its weights are used."""
import math

import pytest
import torch

import mmvig
from mmvig.errors import InputError
from mmvig.models.pretrained import CheckpointMismatchError, select_weights
from mmvig.testing import TINY


@pytest.mark.parametrize('name,shown', [('NaN log_beta', 'nan'),
                                        ('inf log_beta', 'inf')])
def test_non_finite_temperature_in_a_checkpoint(bad_checkpoints, name, shown):
    message = f'stages.1.2.aggregate.branch.log_beta.*{shown}.*must be finite'
    backbone = mmvig.AttentionViG(
        TINY,
        init_cfg=dict(type='Pretrained', checkpoint=bad_checkpoints[name]))
    with pytest.raises(InputError, match=message):
        backbone.init_weights()
    state = torch.load(bad_checkpoints[name], weights_only=True)['state_dict']
    with pytest.raises(InputError, match=message):
        mmvig.AttentionViG(TINY).load_state_dict(state)


def test_pretrained_checkpoint_of_another_arch(bad_checkpoints):
    backbone = mmvig.AttentionViG(
        TINY,
        init_cfg=dict(
            type='Pretrained', checkpoint=bad_checkpoints['another arch']))
    with pytest.raises(
            CheckpointMismatchError, match=r'other.pth.*with the wrong shape'):
        backbone.init_weights()


def test_ema_weights_asked_of_a_checkpoint_without(bad_checkpoints):
    with pytest.raises(InputError, match='holds no EMA weights'):
        select_weights({'state_dict': {}}, 'ema')


@pytest.mark.parametrize('key',
                         ['stem.0.conv.weight', 'stem.0.bn.running_var'])
def test_weights_that_are_not_finite_are_refused(key):
    """Any tensor, not only the temperatures: a diverged run's weights."""
    state = mmvig.AttentionViG(TINY).state_dict()
    state[key] = torch.full_like(state[key], math.nan)
    with pytest.raises(InputError, match=rf'first {key} \(nan\).*finite'):
        mmvig.AttentionViG(TINY).load_state_dict(state)


def test_pretrained_init_strips_a_module_prefix(tmp_path):
    """A classifier saved from a DDP-wrapped model without mmengine."""
    torch.manual_seed(0)
    source = mmvig.AttentionViG(TINY)
    path = str(tmp_path / 'ddp.pth')
    torch.save(
        {
            'state_dict': {
                f'module.backbone.{k}': v
                for k, v in source.state_dict().items()
            }
        }, path)
    target = mmvig.AttentionViG(
        TINY, init_cfg=dict(type='Pretrained', checkpoint=path))
    target.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
