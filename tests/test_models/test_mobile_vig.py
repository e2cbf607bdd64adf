"""MobileViG's own checks beside ``test_lineage.py`` (where its outputs are
checked against the authors'): its folded model."""

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmvig.models import MobileViG
from mmvig.testing import assert_relative, lineage_input, randomise_norms


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
