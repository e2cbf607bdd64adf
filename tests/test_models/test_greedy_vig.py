"""GreedyViG's own checks beside ``test_lineage.py`` (where its outputs are
checked against the authors'): its classifier conversion (one head, EMA
weights, unmapped keys) and AttentionViG-S started from GreedyViG-S."""
import os.path as osp

import pytest
import torch
from mmengine.registry import DefaultScope

from mmvig.apis import read_config
from mmvig.errors import InputError
from mmvig.models.converters import (classifier, greedyvig_backbone,
                                     pick_weights)
from mmvig.testing import (REPO_ROOT, lineage_fixture, logged_messages,
                           seeded_state_dict)


def _fixture(arch: str) -> dict:
    return lineage_fixture(f'greedyvig_{arch}')


def test_a_classifier_without_distillation_head_averages_one_head():
    fixture = _fixture('s')
    authors = seeded_state_dict(fixture['table'], fixture['seed'])
    del authors['dist_head.weight'], authors['dist_head.bias']
    converted = classifier('GreedyViG', authors)
    assert torch.equal(converted['head.dist_head.weight'],
                       authors['head.weight'].flatten(1))
    assert torch.equal(converted['head.head.bias'], authors['head.bias'])


def test_classifier_keys_that_map_nowhere_are_named():
    fixture = _fixture('s')
    authors = seeded_state_dict(fixture['table'], fixture['seed'])
    authors['classifier.weight'] = torch.zeros(1)
    with pytest.raises(
            InputError,
            match=r"1 GreedyViG classifier keys .*"
            r"'classifier\.weight'"):
        classifier('GreedyViG', authors)
    del authors['classifier.weight'], authors['prediction.1.weight']
    with pytest.raises(InputError, match='not a GreedyViG ImageNet'):
        classifier('GreedyViG', authors)


def test_the_ema_weights_are_chosen_and_named():
    weights = {'module.w': torch.ones(1)}
    ema = {'module.w': torch.zeros(1)}
    which, chosen = pick_weights({'model': weights, 'model_ema': ema})
    assert which == 'model_ema' and chosen == {'w': ema['module.w']}
    which, _ = pick_weights({
        'state_dict': weights,
        'state_dict_ema': ema,
        'epoch': 3
    })
    assert which == 'state_dict_ema'
    assert pick_weights({'model': weights})[0] == 'model'
    assert pick_weights(weights) == ('', {'w': weights['module.w']})
    with pytest.raises(InputError, match=r"entries: \['epoch'\]"):
        pick_weights({'epoch': 3})


def test_a_key_that_maps_nowhere_is_named():
    fixture = _fixture('s')
    authors = seeded_state_dict(fixture['table'], fixture['seed'])
    authors['backbone.0.2.mixer.extra.weight'] = torch.zeros(1)
    with pytest.raises(
            InputError,
            match=r"1 GreedyViG backbone keys map to no key .*"
            r"'backbone\.0\.2\.mixer\.extra\.weight'"):
        greedyvig_backbone(authors)


def test_attentionvig_s_starts_from_greedyvig_s(tmp_path):
    """configs/attentionvig_s_in1k_from_greedyvig.py: every tensor the two
    models share comes from the converted GreedyViG-S checkpoint; the
    cross-attention's q/k/v and temperatures keep their initialisation; the
    log counts both."""
    authors = seeded_state_dict(_fixture('s')['table'], _fixture('s')['seed'])
    converted = classifier('GreedyViG', authors)
    path = str(tmp_path / 'greedyvig_s_in1k.pth')
    torch.save({'state_dict': converted}, path)
    cfg = read_config(
        osp.join(REPO_ROOT, 'configs',
                 'attentionvig_s_in1k_from_greedyvig.py'))
    cfg.model.teacher = None
    cfg.model.backbone.init_cfg.checkpoint = path
    cfg.model.head.init_cfg.checkpoint = path
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    # the scope a Runner of another task library left in this process
    # (another test's) must not choose the registry
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with logged_messages() as messages:
        model.init_weights()
    fresh, loaded = [], []
    for key, value in model.state_dict().items():
        if key.startswith('data_preprocessor'):
            continue
        if key in converted:
            assert torch.equal(value, converted[key].to(value.dtype)), key
            loaded.append(key)
        else:
            assert torch.equal(value, before[key]), key
            fresh.append(key)
    assert len(loaded) == 444  # 434 backbone + 10 head tensors
    assert len(fresh) == 24  # q/k/v weight and bias, log_beta: 8 Graphers
    assert all(
        k.endswith(('qkv.weight', 'qkv.bias', 'log_beta')) for k in fresh)
    assert any('out.conv.weight' in k for k in loaded)
    new = sum(p.numel() for k, p in model.backbone.named_parameters()
              if k.endswith(('qkv.weight', 'qkv.bias', 'log_beta')))
    shared = sum(p.numel() for p in model.backbone.parameters()) - new
    assert any(f'Loaded 434 tensors of AttentionViG ({shared} parameters)' in m
               for m in messages), messages
    assert any(f'24 tensors ({new} parameters) keep their initialisation' in m
               for m in messages), messages
