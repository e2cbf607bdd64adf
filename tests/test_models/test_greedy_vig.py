"""GreedyViG equals the authors' model: their state dict (a key / shape
table, as data), with seeded values, converted to mmvig's keys, gives their
stage outputs in float64.

The fixtures ``tests/data/lineage/greedyvig_{s,m,b}.json`` were computed
once from the authors' own code (SLDGroup/GreedyViG ``models/greedyvig.py``
at commit f15d39d) by ``python tools/dev/lineage_fixtures.py --greedyvig
PATH/models/greedyvig.py``: their ``GreedyViG_S/M/B`` with the weights
``mmvig.testing.seeded_state_dict`` draws for the table, in eval mode and
float64, on seeded inputs of 224x224, 256x192 and 232x200 (maps the graph
strides do not divide: there, and only there, the direction of the rolls
changes the neighbours); each stage's output is stored as projections on
seeded random directions
(``mmvig.testing.projections``). No network and no copy of their code.
"""
import json
import os.path as osp

import pytest
import torch

from mmvig.errors import InputError
from mmvig.models import GreedyViG
from mmvig.models.converters import greedyvig_backbone
from mmvig.testing import REPO_ROOT, projections, seeded_state_dict

FIXTURES = osp.join(REPO_ROOT, 'tests', 'data', 'lineage')


def _fixture(arch: str) -> dict:
    with open(osp.join(FIXTURES, f'greedyvig_{arch}.json')) as f:
        return json.load(f)


def _image(height: int, width: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(height * 1000 + width)
    return torch.randn((1, 3, height, width),
                       generator=generator,
                       dtype=torch.float64)


@pytest.mark.parametrize('arch', ['s', 'm', 'b'])
def test_stage_outputs_equal_the_authors(arch):
    fixture = _fixture(arch)
    authors = seeded_state_dict(fixture['table'], fixture['seed'])
    model = GreedyViG(arch).double().eval()
    model.load_state_dict(greedyvig_backbone(authors))  # strict: every key
    with torch.no_grad():
        for size, expected in fixture['outputs'].items():
            height, width = map(int, size.split('x'))
            levels = model(_image(height, width))
            for i, (level, want) in enumerate(zip(levels, expected['levels'])):
                assert list(level.shape) == want['shape'], (size, i)
                got, _ = projections(level, fixture['seed'] + i)
                for g, w, scale in zip(got, *want['projections']):
                    assert abs(g - w) <= 1e-6 * scale, (arch, size, i, g, w)


def test_a_key_that_maps_nowhere_is_named():
    fixture = _fixture('s')
    authors = seeded_state_dict(fixture['table'], fixture['seed'])
    authors['backbone.0.2.mixer.extra.weight'] = torch.zeros(1)
    with pytest.raises(
            InputError,
            match=r"1 GreedyViG backbone keys map to no key .*"
            r"'backbone\.0\.2\.mixer\.extra\.weight'"):
        greedyvig_backbone(authors)


def test_any_input_size_the_authors_accept():
    """Their dynamic graph needs no neighbours: a map with none aggregates
    zeros (AttentionViG refuses such inputs)."""
    model = GreedyViG('s').eval()
    with torch.no_grad():
        levels = model(torch.randn(1, 3, 33, 17))
    assert [tuple(x.shape[-2:]) for x in levels] == [(9, 5), (5, 3), (3, 2),
                                                     (2, 1)]
    with pytest.raises(InputError, match="GreedyViG's aggregation"):
        GreedyViG('s', aggregator=dict(type='MaxRelative'))
