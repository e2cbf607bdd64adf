"""What the three lineage backbones (MobileViG, GreedyViG, AdaptViG) share:
the authors' detection / segmentation files map to every backbone key with
the neck and heads kept, a key that maps nowhere is named, every input
size their code accepts works, and their aggregation is their own. Each
family's equality with the authors' outputs is in its own file
(``test_greedy_vig.py``, ``test_mobile_vig.py``, ``test_adapt_vig.py``)."""
import re

import pytest
import torch

from mmvig.errors import InputError
from mmvig.models.converters import dense
from mmvig.registry import MODELS
from mmvig.testing import lineage_fixture, seeded_state_dict

# (family, a size with released detection / segmentation weights)
DENSE = [('GreedyViG', 's'), ('MobileViG', 'm'), ('AdaptViG', 'm')]


@pytest.mark.parametrize('family, arch', DENSE)
def test_a_dense_checkpoint_maps_its_backbone(family, arch):
    """An mmdet 2.28 / mmseg 0.x file's backbone (their dense backbones:
    the classifier's modules without its head) converts to every key of the
    backbone; other keys are kept as they are; a backbone key of theirs that
    maps nowhere is named."""
    fixture = lineage_fixture(f'{family.lower()}_{arch}')
    authors = seeded_state_dict(fixture['table'], fixture['seed'])
    weights = {
        f'backbone.{k}': v
        for k, v in authors.items()
        if not k.startswith(('prediction.', 'head.', 'dist_head.'))
    }
    neck = 'neck.lateral_convs.0.conv.weight'
    weights[neck] = torch.ones(1)
    converted = dense(family, weights)
    assert converted[neck] is weights[neck]
    backbone = {
        k[len('backbone.'):]: v
        for k, v in converted.items() if k.startswith('backbone.')
    }
    MODELS.build(dict(type=family, arch=arch)).load_state_dict(backbone)
    extra = 'stem.stem.0.extra'
    weights[f'backbone.{extra}'] = torch.ones(1)
    with pytest.raises(
            InputError,
            match=rf"^1 {family} backbone keys map to no key of mmvig's "
            rf"{family}, first \['{re.escape(extra)}'\] \(keys under the "
            r"file's 'backbone\.'\)$"):
        dense(family, weights)


@pytest.mark.parametrize('family, arch', [('GreedyViG', 's'),
                                          ('MobileViG', 'ti'),
                                          ('AdaptViG', 's')])
def test_any_input_size_and_their_own_aggregation(family, arch):
    """Their graphs need no neighbours: a map with none aggregates zeros
    (AttentionViG refuses such inputs). ``aggregator=`` is refused, naming
    theirs."""
    model = MODELS.build(dict(type=family, arch=arch)).eval()
    with torch.no_grad():
        levels = model(torch.randn(1, 3, 33, 17))
    assert [tuple(x.shape[-2:]) for x in levels] == [(9, 5), (5, 3), (3, 2),
                                                     (2, 1)]
    with pytest.raises(
            InputError,
            match=rf"^{family}'s aggregation is its own \(.+\); for "
            r'another, use AttentionViG\(aggregator=\.\.\.\)$'):
        MODELS.build(
            dict(type=family, arch=arch, aggregator=dict(type='MaxRelative')))
