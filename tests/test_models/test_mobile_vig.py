"""MobileViG equals the authors' model: their state dict (a key / shape
table, as data), with seeded values, converted to mmvig's keys, gives their
stage outputs and logits in float64.

The fixtures ``tests/data/lineage/mobilevig_{ti,s,m,b}.json`` were computed
once from the authors' own code (SLDGroup/MobileViG ``models/mobilevig.py``
at commit 087df4f) by ``python tools/dev/lineage_fixtures.py --mobilevig
PATH/models/mobilevig.py``: their ``mobilevig_ti/s/m/b`` with the weights
``mmvig.testing.seeded_state_dict`` draws for the table, in eval mode and
float64, on seeded inputs of 224x224, 256x192 and 232x200; each stage's
output (before each downsample of their flat block list, and at the end)
and the logits are stored as projections on seeded random directions.
No network and no copy of their code.
"""
import os.path as osp

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmvig.apis import init_model
from mmvig.errors import InputError
from mmvig.models import MobileViG
from mmvig.models.converters import classifier, dense
from mmvig.testing import (REPO_ROOT, assert_lineage_outputs, assert_relative,
                           lineage_fixture, lineage_input, randomise_norms,
                           seeded_state_dict)


@pytest.mark.parametrize('arch', ['ti', 's', 'm', 'b'])
def test_outputs_equal_the_authors(arch):
    """Their ImageNet classifier, converted, in mmvig's config: each stage's
    output and the mean of the two heads' logits (their eval mode) equal
    theirs."""
    fixture = lineage_fixture(f'mobilevig_{arch}')
    authors = seeded_state_dict(fixture['table'], fixture['seed'])
    model = init_model(
        osp.join(REPO_ROOT, 'configs', 'mobilevig',
                 f'mobilevig_{arch}_in1k.py')).double()
    model.load_state_dict(classifier('MobileViG', authors))  # strict
    assert_lineage_outputs(model, fixture)


def test_a_detection_checkpoint_maps_its_backbone():
    """An mmdet 2.28 file's backbone (their detection backbone: the same
    modules, no classifier layers) converts to every key of the backbone."""
    fixture = lineage_fixture('mobilevig_m')
    authors = seeded_state_dict(fixture['table'], fixture['seed'])
    weights = {
        f'backbone.{k}': v
        for k, v in authors.items()
        if not k.startswith(('prediction.', 'head.', 'dist_head.'))
    }
    weights['neck.lateral_convs.0.conv.weight'] = torch.ones(1)
    converted = dense('MobileViG', weights)
    assert converted['neck.lateral_convs.0.conv.weight'] is \
        weights['neck.lateral_convs.0.conv.weight']
    backbone = {
        k[len('backbone.'):]: v
        for k, v in converted.items() if k.startswith('backbone.')
    }
    MobileViG('m').load_state_dict(backbone)  # strict: every key
    weights['backbone.local_backbone.0.mlp.extra'] = torch.ones(1)
    with pytest.raises(
            InputError,
            match=r"1 MobileViG backbone keys map to no key of "
            r"mmvig's MobileViG, first \['local_backbone\.0\.mlp\.extra'\] "
            r"\(keys under the file's 'backbone\.'\)"):
        dense('MobileViG', weights)


def test_any_input_size_the_authors_accept():
    """Their graph needs no neighbours: a map with none aggregates zeros."""
    model = MobileViG('ti').eval()
    with torch.no_grad():
        levels = model(torch.randn(1, 3, 33, 17))
    assert [tuple(x.shape[-2:]) for x in levels] == [(9, 5), (5, 3), (3, 2),
                                                     (2, 1)]
    with pytest.raises(InputError, match="MobileViG's aggregation"):
        MobileViG('s', aggregator=dict(type='MaxRelative'))


def test_switch_to_deploy_keeps_the_outputs():
    """Folded (each conv's BatchNorm and each layer scale into its conv), in
    float64: the same levels."""
    torch.manual_seed(0)
    model = randomise_norms(MobileViG('ti')).double()
    x = lineage_input(96, 80)
    with torch.no_grad():
        before = model(x)
        model.switch_to_deploy()
        after = model(x)
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    assert_relative(after, before, 1e-12)
