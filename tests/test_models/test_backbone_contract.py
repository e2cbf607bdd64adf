"""One contract over every registered backbone and arch (timm's
tests/test_models.py style): registry build, level shapes at odd sizes,
forward and backward, out_indices, frozen_stages, norm_eval, checkpoint round
trip."""
import math

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

import mmvig  # noqa: F401
from mmvig.models.base import PyramidBackbone
from mmvig.registry import MODELS
from mmvig.testing import SAG_TINY, TINY, level_shapes

BACKBONES = sorted(
    name for name, cls in MODELS.module_dict.items()
    if isinstance(cls, type) and issubclass(cls, PyramidBackbone))

CASES = [(name, arch) for name in BACKBONES
         for arch in sorted({a.lower()
                             for a in MODELS.get(name).arch_zoo} if name !=
                            'SAGViT' else ['small', 'base'])]

SIZE = (97, 131)  # odd, not square, not a multiple of any stride


def test_every_backbone_is_covered():
    assert BACKBONES == [
        'AdaptViG', 'AttentionViG', 'GreedyViG', 'MobileViG', 'SAGViT'
    ]
    assert len(CASES) == 15


def build(name, arch, **kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(type=name, arch=arch, **kwargs))


# the tiny archs and the channels of their four levels
TINY_ARCHS = {
    'AdaptViG': (TINY, TINY['widths']),
    'AttentionViG': (TINY, TINY['widths']),
    'GreedyViG': (TINY, TINY['widths']),
    'MobileViG': (dict(TINY, depths=[1, 1, 1, 0],
                       num_graphers=[0, 0, 0, 1]), TINY['widths']),
    'SAGViT': (SAG_TINY, [32, 48, 32, 32])
}


@pytest.mark.parametrize('name, height, width', [('AdaptViG', 97, 131),
                                                 ('AdaptViG', 33, 17),
                                                 ('AttentionViG', 223, 197),
                                                 ('AttentionViG', 96, 96),
                                                 ('AttentionViG', 65, 130),
                                                 ('AttentionViG', 129, 67),
                                                 ('GreedyViG', 97, 131),
                                                 ('GreedyViG', 33, 17),
                                                 ('MobileViG', 97, 131),
                                                 ('MobileViG', 33, 17),
                                                 ('SAGViT', 97, 131),
                                                 ('SAGViT', 64, 64),
                                                 ('SAGViT', 225, 161),
                                                 ('SAGViT', 130, 65)])
def test_levels_have_ceil_stride_shapes(name, height, width):
    """Level ``i`` is ``(B, C_i, ceil(H / 2^(i+2)), ceil(W / 2^(i+2)))``."""
    arch, channels = TINY_ARCHS[name]
    model = build(name, arch).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, height, width))
    assert [o.shape[:2] for o in outs] == [(2, c) for c in channels]
    assert model.out_channels == channels
    assert [tuple(o.shape[-2:]) for o in outs] == level_shapes(height, width)


@pytest.mark.parametrize('name, arch', CASES)
@pytest.mark.long
def test_forward_backward_at_an_odd_size(name, arch):
    """Levels ``(B, C_i, ceil(H / 2^(i+2)), ceil(W / 2^(i+2)))``, finite;
    every parameter gets a gradient."""
    model = build(name, arch).train()
    x = torch.randn(2, 3, *SIZE)
    outs = model(x)
    assert [o.shape[1] for o in outs] == model.out_channels
    for i, o in enumerate(outs):
        assert o.shape[2:] == tuple(math.ceil(s / 2**(i + 2)) for s in SIZE)
        assert torch.isfinite(o).all()
    sum(o.mean() for o in outs).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing[:5]


@pytest.mark.parametrize('name, arch', CASES)
@pytest.mark.long
def test_out_indices_select_levels(name, arch):
    full = build(name, arch).eval()
    some = build(name, arch, out_indices=(1, 3)).eval()
    some.load_state_dict(full.state_dict(), strict=False)
    x = torch.randn(1, 3, *SIZE)
    with torch.no_grad():
        levels, chosen = full(x), some(x)
    assert len(chosen) == 2
    torch.testing.assert_close(chosen[0], levels[1])
    torch.testing.assert_close(chosen[1], levels[3])


@pytest.mark.parametrize('name, arch', CASES)
@pytest.mark.parametrize('frozen', [0, 2])
@pytest.mark.long
def test_frozen_stages_and_norm_eval(name, arch, frozen):
    """``frozen_stages``: those parameters do not train and their norms stay
    in eval mode through ``train()``; ``norm_eval``: every BatchNorm
    does."""
    model = build(name, arch, frozen_stages=frozen).train()
    modules, params = model._frozen()
    assert modules
    for module in modules:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules()
                   if isinstance(m, _BatchNorm))
    assert any(p.requires_grad for p in model.parameters())
    model = build(name, arch, norm_eval=True).train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and not any(m.training for m in norms)


@pytest.mark.parametrize('name, arch', CASES)
@pytest.mark.long
def test_checkpoint_round_trip(name, arch, tmp_path):
    """A saved backbone loads, strictly, into a fresh one (through the
    ``Pretrained`` init that mmdet and mmseg configs use) and computes the
    same levels."""
    from mmengine.runner.checkpoint import save_checkpoint
    model = build(name, arch).eval()
    path = str(tmp_path / 'backbone.pth')
    save_checkpoint({
        f'backbone.{k}': v
        for k, v in model.state_dict().items()
    }, path)
    torch.manual_seed(1)
    loaded = MODELS.build(
        dict(
            type=name,
            arch=arch,
            init_cfg=dict(
                type='Pretrained', checkpoint=path, prefix='backbone.')))
    loaded.init_weights()
    loaded.eval()
    x = torch.randn(1, 3, *SIZE)
    with torch.no_grad():
        for a, b in zip(model(x), loaded(x)):
            torch.testing.assert_close(a, b)
