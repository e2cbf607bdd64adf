"""tools/model_converters/lineage_to_mmvig.py: the authors' checkpoints (a
seeded state dict with their keys and shapes, saved as their tools save it)
to checkpoints of mmvig's configs. That the mapping gives the authors'
outputs is tests/test_models/test_lineage.py's; here: the command, the
file it writes, the entry it reads, and its errors."""
import importlib.util
import os.path as osp

import pytest
import torch

from mmvig.apis import init_model
from mmvig.errors import InputError
from mmvig.models.converters import classifier, dense
from mmvig.safe_load import load_checkpoint_file
from mmvig.testing import (REPO_ROOT, assert_lineage_outputs, lineage_fixture,
                           run_tool, seeded_state_dict)

TOOL = osp.join(REPO_ROOT, 'tools', 'model_converters', 'lineage_to_mmvig.py')
CONFIGS = osp.join(REPO_ROOT, 'configs', 'greedyvig')


def _authors(arch: str) -> dict:
    fixture = lineage_fixture(f'greedyvig_{arch}')
    return seeded_state_dict(fixture['table'], fixture['seed'])


def _tool():
    spec = importlib.util.spec_from_file_location('lineage_to_mmvig', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.mark.slow
@pytest.mark.parametrize('family', ['GreedyViG', 'AdaptViG'])
def test_an_imagenet_checkpoint_converts_from_its_ema_weights(
        family, tmp_path):
    """The command on a file with trained and EMA weights; the result,
    through mmpretrain's model hub (``get_model(NAME, pretrained=DST)``),
    gives the authors' four stage outputs and eval logits in float64."""
    import mmpretrain
    name = family.lower()
    fixture = lineage_fixture(f'{name}_s')
    authors = seeded_state_dict(fixture['table'], fixture['seed'])
    trained = {k: v + 1 for k, v in authors.items()}
    src, dst = str(tmp_path / 'authors.pth'), str(tmp_path / 'out.pth')
    torch.save({'model': trained, 'model_ema': authors}, src)
    config = osp.join(REPO_ROOT, 'configs', name, f'{name}_s_in1k.py')
    out = run_tool(TOOL, config, src, dst)
    assert "its 'model_ema' entry (the EMA weights)" in out, out
    converted = load_checkpoint_file(dst)  # mmvig's safe loading
    assert list(converted) == ['state_dict']
    want = classifier(family, authors)
    assert converted['state_dict'].keys() == want.keys()
    assert all(
        torch.equal(converted['state_dict'][k], v) for k, v in want.items())

    # the seeded values are float32 (the table's dtype): exact in float32
    model = mmpretrain.get_model(f'{name}-s_in1k', pretrained=dst)
    assert_lineage_outputs(
        model.double().eval(), fixture, sizes=('224x224', '256x192'))


@pytest.mark.parametrize('config, fixture', [
    ('greedyvig/mask_rcnn_greedyvig_s_coco.py', 'greedyvig_s'),
    ('greedyvig/fpn_greedyvig_s_ade20k.py', 'greedyvig_s'),
    ('mobilevig/mask_rcnn_mobilevig_m_coco.py', 'mobilevig_m'),
    ('adaptvig/fpn_adaptvig_m_ade20k.py', 'adaptvig_m'),
])
def test_a_dense_checkpoint_keeps_its_neck_and_heads(config, fixture,
                                                     tmp_path):
    """An mmdet 2.28 / mmseg 0.x file: ``state_dict`` (their backbone under
    ``backbone.``, without the classifier layers, which their detection and
    segmentation backbones do not have; the neck and heads as mmdet 3 /
    mmseg 1 name them) and ``meta``."""
    config = osp.join(REPO_ROOT, 'configs', config)
    own = init_model(config).state_dict()
    generator = torch.Generator().manual_seed(0)
    rest = {
        k:
        torch.randn(v.shape, generator=generator)
        if v.is_floating_point() else v
        for k, v in own.items() if not k.startswith('backbone.')
    }
    table = lineage_fixture(fixture)
    backbone = {
        k: v
        for k, v in seeded_state_dict(table['table'], table['seed']).items()
        if not k.startswith(('prediction.', 'head.', 'dist_head.'))
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
    family = {
        'greedyvig': 'GreedyViG',
        'mobilevig': 'MobileViG',
        'adaptvig': 'AdaptViG'
    }[fixture.split('_')[0]]
    want = dense(family, {**authors, **rest})
    assert converted.keys() == want.keys() == own.keys()
    assert all(torch.equal(converted[k], v) for k, v in want.items())


def test_errors_name_the_problem_in_one_line(tmp_path):
    """A config of another family, another size, and a damaged checkpoint
    (a missing key, an extra key, a wrong shape): one line naming it, and
    nothing written."""
    tool = _tool()
    src, dst = str(tmp_path / 'authors.pth'), str(tmp_path / 'out.pth')
    config = osp.join(CONFIGS, 'greedyvig_s_in1k.py')
    authors = _authors('s')

    def refused(weights, pattern, to=config):
        torch.save({'model': weights}, src)
        with pytest.raises(InputError, match=pattern) as error:
            tool.convert(to, src, dst)
        assert '\n' not in str(error.value), str(error.value)

    refused(
        authors, 'has a AttentionViG backbone; the converter reads '
        'checkpoints of AdaptViG, GreedyViG, MobileViG models',
        osp.join(REPO_ROOT, 'configs', 'attentionvig_s_in1k.py'))
    refused(
        authors, r"does not fit .*greedyvig_b_in1k.py's model: \d+ keys of "
        r'the model left unfilled .* shapes differ .* Is the config for the '
        'same model and size', osp.join(CONFIGS, 'greedyvig_b_in1k.py'))
    refused(
        {
            k: v
            for k, v in authors.items() if k != 'backbone.0.2.layer_scale_1'
        }, r"1 keys of the model left unfilled \(first \['backbone\.stages\.0"
        r"\.2\.aggregate\.layer_scale\.weight'\]\)")
    refused(
        {
            k: v
            for k, v in authors.items() if k != 'backbone.1.0.conv.0.weight'
        }, r"6 GreedyViG backbone keys map to no key of mmvig's GreedyViG, "
        r"first \['backbone\.1\.0\.conv\.0\.bias'")
    refused(
        {
            k: v
            for k, v in authors.items()
            if k != 'backbone.0.0.dws.norm1.running_var'
        }, r"has backbone\.0\.0\.dws\.pw1\.weight but not its BatchNorm's "
        r"\['backbone\.0\.0\.dws\.norm1\.running_var'\]")
    refused({**authors, 'extra.weight': torch.ones(1)}, r"'extra\.weight'")
    refused({
        **authors, 'head.bias': torch.zeros(3)
    }, r"1 shapes differ from the model's \(first \['head\.head\.bias "
            r'\(3,\) vs \(1000,\)\'\]\)')
    assert not osp.exists(dst)
