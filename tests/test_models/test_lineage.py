"""The three lineage backbones (MobileViG, GreedyViG, AdaptViG) equal the
authors' models: their state dict (a key / shape table, as data), with
seeded values, converted to mmvig's keys, gives their stage outputs and
logits in float64, for every released size. Their detection /
segmentation files map to every backbone key with the neck and heads kept,
a key that maps nowhere is named, every input size their code accepts
works, their aggregation is their own, and their folded models compute what
they compute.

The fixtures ``tests/data/lineage/*.json`` were computed once from the
authors' own model files (SLDGroup/GreedyViG ``models/greedyvig.py`` at
commit f15d39d, SLDGroup/MobileViG ``models/mobilevig.py`` at 087df4f,
mmunir127/AdaptViG ``models/adaptvig.py`` at 2e31428) by
``python tools/dev/lineage_fixtures.py --greedyvig PATH --mobilevig PATH
--adaptvig PATH``: each released size with the weights
``mmvig.testing.seeded_state_dict`` draws for its table, in eval mode and
float64, on seeded inputs of 224x224 and 256x192 (the released
resolutions), 232x200 (axes the graph strides do not divide, where the
direction of the rolls matters) and, for AdaptViG, 40x24 (maps shorter
than the local offset); each stage's output and the logits are stored as
projections on seeded random directions (``mmvig.testing.projections``).
No network and no copy of their code. What is particular to a family is in
its own file (``test_greedy_vig.py``, ``test_adapt_vig.py``)."""
import os.path as osp
import re

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmvig.apis import init_model, read_config
from mmvig.errors import InputError
from mmvig.models.converters import classifier, dense
from mmvig.registry import MODELS
from mmvig.testing import (REPO_ROOT, assert_lineage_outputs, assert_relative,
                           lineage_fixture, lineage_input, randomise_norms,
                           seeded_state_dict)

RELEASED = [('GreedyViG', a) for a in ('s', 'm', 'b')] + [
    ('MobileViG', a) for a in ('ti', 's', 'm', 'b')
] + [('AdaptViG', a) for a in ('s', 'm', 'b')]


@pytest.mark.parametrize('family, arch', RELEASED)
@pytest.mark.long
def test_outputs_equal_the_authors(family, arch):
    """Their ImageNet classifier, converted, in mmvig's config: each stage's
    output and the mean of the two heads' logits (their eval mode) equal
    theirs."""
    name = family.lower()
    fixture = lineage_fixture(f'{name}_{arch}')
    assert {'224x224', '256x192', '232x200'} <= set(fixture['outputs'])
    authors = seeded_state_dict(fixture['table'], fixture['seed'])
    model = init_model(
        osp.join(REPO_ROOT, 'configs', name, f'{name}_{arch}_in1k.py'))
    model.double().load_state_dict(classifier(family, authors))  # strict
    assert_lineage_outputs(model, fixture)


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


@pytest.mark.parametrize('family, arch', [('GreedyViG', 's'),
                                          ('MobileViG', 'ti'),
                                          ('AdaptViG', 's')])
def test_switch_to_deploy_keeps_the_outputs(family, arch):
    """The classifier folded (each conv's BatchNorm and each layer scale
    into its conv), in float64: the same levels and logits. AdaptViG's
    temperatures are set where its gates weigh; its global attention's
    projections and norms stay as they are."""
    name = family.lower()
    cfg = read_config(
        osp.join(REPO_ROOT, 'configs', name, f'{name}_{arch}_in1k.py'))
    cfg.model.backbone.out_indices = (0, 1, 2, 3)
    torch.manual_seed(0)
    model = randomise_norms(init_model(cfg)).double()
    for module in model.modules():
        if hasattr(module, 'temperature'):
            module.temperature.data.fill_(30.)
    x = lineage_input(96, 80)
    with torch.no_grad():
        before = list(model.backbone(x)) + [model(x, mode='tensor')]
        model.backbone.switch_to_deploy()
        model.head.switch_to_deploy()
        after = list(model.backbone(x)) + [model(x, mode='tensor')]
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    assert_relative(after, before, 1e-12)
