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
from mmvig.models import MobileViG
from mmvig.models.converters import classifier
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
