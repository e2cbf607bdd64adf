"""mmvig.models.fold: folding BatchNorm and layer scales is exact, in eval
and training mode, and a folded model saves and rebuilds (deploy=True)."""
import pytest
import timm
import torch
from torch.nn.modules.batchnorm import _BatchNorm

import mmvig
from mmvig.deploy import switch_to_deploy
from mmvig.models.layers import LayerScale2d
from mmvig.testing import (SAG_TINY, TINY, assert_relative, randomise_norms,
                           randomised_classifier, tensor_outputs)

MODELS = {
    'AttentionViG-S classifier (mmpretrain), 224':
    (randomised_classifier, 224, 224),
    'AttentionViG-S dense backbone, 97x131':
    (lambda: randomise_norms(mmvig.AttentionViG('s')), 97, 131),
    'AttentionViG-B timm classifier, 97x131':
    (lambda: randomise_norms(timm.create_model('attentionvig_b')), 97, 131),
    'SAG-ViT dense backbone, 97x131':
    (lambda: randomise_norms(mmvig.SAGViT('small')), 97, 131),
}


@pytest.mark.parametrize('name', list(MODELS))
def test_folding_is_exact(name):
    build, height, width = MODELS[name]
    model = build()
    x = torch.randn(2, 3, height, width)
    expected = tensor_outputs(model, x)
    switch_to_deploy(model)
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    assert_relative(tensor_outputs(model, x), expected, 1e-5)


def test_attention_vig_folds_every_foldable_layer_scale():
    model = randomise_norms(mmvig.AttentionViG(TINY))
    model.switch_to_deploy()
    scales = [
        n for n, m in model.named_modules() if isinstance(m, LayerScale2d)
    ]
    # Only the aggregation branches keep theirs: a GELU comes before it.
    assert scales and all(n.endswith('aggregate.layer_scale') for n in scales)
    assert all(m.identity_folded for m in model.modules()
               if type(m).__name__ == 'ConvPositionEncoding')


def test_folding_in_training_mode_folds_the_running_statistics():
    """As mmpretrain's re-parameterisable backbones, and as mmdeploy calls
    it (``switch_to_deploy`` before ``eval``): folded in training mode, the
    model computes what it computed in eval mode."""
    for model in (randomise_norms(mmvig.AttentionViG(TINY)),
                  randomise_norms(
                      timm.create_model('attentionvig_s', arch=TINY)),
                  randomise_norms(mmvig.SAGViT(SAG_TINY))):
        x = torch.randn(2, 3, 97, 131)
        expected = tensor_outputs(model.eval(), x)
        model.train().switch_to_deploy()
        assert not any(isinstance(m, _BatchNorm) for m in model.modules())
        # float32 rounding through the folds; batch statistics would be O(1)
        assert_relative(tensor_outputs(model.eval(), x), expected, 1e-4)


@pytest.mark.parametrize('name', ['AttentionViG', 'SAGViT'])
def test_folded_checkpoint_round_trip(name, tmp_path):
    """A folded backbone saved with mmengine's ``save_checkpoint`` loads,
    strictly, into one built with ``deploy=True`` (mmpretrain's convention
    for re-parameterised backbones), which then computes what the folded
    model and the eval-mode model compute."""
    from mmengine.runner.checkpoint import load_checkpoint, save_checkpoint
    cls = mmvig.AttentionViG if name == 'AttentionViG' else mmvig.SAGViT
    arch = TINY if name == 'AttentionViG' else SAG_TINY
    torch.manual_seed(0)
    model = randomise_norms(cls(arch))
    x = torch.randn(2, 3, 97, 131)
    expected = tensor_outputs(model, x)
    model.switch_to_deploy()
    path = str(tmp_path / 'folded.pth')
    save_checkpoint(model.state_dict(), path)
    rebuilt = cls(arch, deploy=True).eval()
    assert set(rebuilt.state_dict()) == set(model.state_dict())
    load_checkpoint(rebuilt, path, strict=True)
    assert_relative(tensor_outputs(rebuilt, x), tensor_outputs(model, x), 1e-6)
    assert_relative(tensor_outputs(rebuilt, x), expected, 1e-5)
    with pytest.raises(Exception, match='Missing key|Unexpected key'):
        cls(arch).load_state_dict(rebuilt.state_dict())
