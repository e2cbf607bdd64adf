"""tools/model_converters/lineage_to_mmvig.py: the authors' checkpoints (a
seeded state dict with their keys and shapes, saved as their tools save it)
to checkpoints of mmvig's configs. That the mapping gives the authors'
outputs is tests/test_models/test_greedy_vig.py's; here: the command, the
file it writes, the entry it reads, and its errors."""
import importlib.util
import json
import os.path as osp

import pytest
import torch

from mmvig.apis import init_model
from mmvig.errors import InputError
from mmvig.models.converters import greedyvig_backbone, greedyvig_classifier
from mmvig.models.pretrained import CheckpointMismatchError
from mmvig.safe_load import load_checkpoint_file
from mmvig.testing import REPO_ROOT, run_tool, seeded_state_dict

TOOL = osp.join(REPO_ROOT, 'tools', 'model_converters', 'lineage_to_mmvig.py')
CONFIGS = osp.join(REPO_ROOT, 'configs', 'greedyvig')


def _authors(arch: str) -> dict:
    with open(
            osp.join(REPO_ROOT, 'tests', 'data', 'lineage',
                     f'greedyvig_{arch}.json')) as f:
        fixture = json.load(f)
    return seeded_state_dict(fixture['table'], fixture['seed'])


def _tool():
    spec = importlib.util.spec_from_file_location('lineage_to_mmvig', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.mark.slow
def test_an_imagenet_checkpoint_converts_from_its_ema_weights(tmp_path):
    authors = _authors('s')
    trained = {k: v + 1 for k, v in authors.items()}
    src, dst = str(tmp_path / 'S_GreedyViG.pth'), str(tmp_path / 'out.pth')
    torch.save({'model': trained, 'model_ema': authors}, src)
    config = osp.join(CONFIGS, 'greedyvig_s_in1k.py')
    out = run_tool(TOOL, config, src, dst)
    assert "its 'model_ema' entry (the EMA weights)" in out, out
    converted = load_checkpoint_file(dst)  # mmvig's safe loading
    assert list(converted) == ['state_dict']
    want = greedyvig_classifier(authors)
    assert converted['state_dict'].keys() == want.keys()
    assert all(
        torch.equal(converted['state_dict'][k], v) for k, v in want.items())
    init_model(config, dst)  # every key of the model, each its shape


@pytest.mark.parametrize('config', [
    'mask_rcnn_greedyvig_s_coco.py',
    'fpn_greedyvig_s_ade20k.py',
])
def test_a_dense_checkpoint_keeps_its_neck_and_heads(config, tmp_path):
    """An mmdet 2.28 / mmseg 0.x file: ``state_dict`` (their backbone under
    ``backbone.``, without the classifier layers, which their detection and
    segmentation backbones do not have; the neck and heads as mmdet 3 /
    mmseg 1 name them) and ``meta``."""
    config = osp.join(CONFIGS, config)
    own = init_model(config).state_dict()
    generator = torch.Generator().manual_seed(0)
    rest = {
        k:
        torch.randn(v.shape, generator=generator)
        if v.is_floating_point() else v
        for k, v in own.items() if not k.startswith('backbone.')
    }
    backbone = {
        k: v
        for k, v in _authors('s').items()
        if k.startswith(('stem.', 'backbone.'))
    }
    authors = {f'backbone.{k}': v for k, v in backbone.items()}
    src, dst = str(tmp_path / 'authors.pth'), str(tmp_path / 'out.pth')
    torch.save(
        {
            'state_dict': {
                **authors,
                **rest
            },
            'meta': {
                'mmdet_version': '2.28.2',
                'CLASSES': ('person', 'bicycle')
            }
        }, src)
    out = _tool().convert(config, src, dst)
    assert "its 'state_dict' entry:" in out, out
    converted = load_checkpoint_file(dst)['state_dict']
    want = {
        **{
            f'backbone.{k}': v
            for k, v in greedyvig_backbone(backbone).items()
        },
        **rest
    }
    assert converted.keys() == want.keys() == own.keys()
    assert all(torch.equal(converted[k], v) for k, v in want.items())


def test_errors_name_the_problem(tmp_path):
    tool = _tool()
    src = str(tmp_path / 'authors.pth')
    authors = _authors('s')
    torch.save({'model': authors}, src)
    dst = str(tmp_path / 'out.pth')
    with pytest.raises(
            InputError,
            match='has a AttentionViG backbone; the '
            'converter reads checkpoints of GreedyViG models'):
        tool.convert(
            osp.join(REPO_ROOT, 'configs', 'attentionvig_s_in1k.py'), src, dst)
    with pytest.raises(
            CheckpointMismatchError,
            match=r'missing keys, \d+ with the wrong shape. Is '
            'the config for the same model and size'):
        tool.convert(osp.join(CONFIGS, 'greedyvig_b_in1k.py'), src, dst)
    torch.save({'model': {**authors, 'extra.weight': torch.ones(1)}}, src)
    with pytest.raises(InputError, match=r"'extra\.weight'"):
        tool.convert(osp.join(CONFIGS, 'greedyvig_s_in1k.py'), src, dst)
    assert not osp.exists(dst)
