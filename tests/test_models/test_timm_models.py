"""mmvig.models.timm_models: the timm entry points (default cfgs, features,
heads, FX, factory kwargs, checkpoints of mmvig and mmpretrain)."""
import pytest
import timm
import torch
from mmengine.registry import DefaultScope
from timm.data import create_transform, resolve_data_config
from timm.models import group_parameters

import mmvig  # noqa: F401
from mmvig.apis import read_config
from mmvig.testing import SAG_TINY, TINY


@pytest.mark.parametrize('family, names, hidden, features_of, channels', [
    ('attentionvig', ('attentionvig_s', 'attentionvig_m', 'attentionvig_b'),
     768, 'attentionvig_b', [64, 512]),
    ('greedyvig', ('greedyvig_s', 'greedyvig_m', 'greedyvig_b'), 768,
     'greedyvig_b', [64, 512]),
    ('mobilevig', ('mobilevig_ti', 'mobilevig_s', 'mobilevig_m',
                   'mobilevig_b'), 512, 'mobilevig_b', [42, 464]),
    ('adaptvig',
     ('adaptvig_s', 'adaptvig_m', 'adaptvig_b'), 768, 'adaptvig_m', [48, 320]),
    ('sagvit', ('sagvit_small', 'sagvit_base'), 256, 'sagvit_base', [48, 384]),
])
def test_timm_models(family, names, hidden, features_of, channels):
    import timm
    assert set(names) <= set(timm.list_models(f'{family}_*'))
    model = timm.create_model(names[0], num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 96, 96)).shape == (2, 7)
        model.reset_classifier(0)  # timm: the head's hidden features
        assert model(torch.randn(1, 3, 96, 96)).shape == (1, hidden)
    features = timm.create_model(
        features_of, features_only=True, out_indices=(0, 3))
    assert features.feature_info.channels() == channels
    assert features.feature_info.reduction() == [4, 32]
    with pytest.raises(ValueError, match=f'no pretrained {names[0]}'):
        timm.create_model(names[0], pretrained=True)


def test_timm_classifier_loads_mmpretrain_classifier_keys():
    import timm
    from mmpretrain.registry import MODELS
    cfg = read_config('configs/sagvit_small_in1k.py')
    cfg.model.head.num_classes = 10
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = MODELS.build(cfg.model).eval()
    model = timm.create_model('sagvit_small', num_classes=10).eval()
    own = {
        k: v
        for k, v in classifier.state_dict().items()
        if not k.startswith('data_preprocessor')
    }
    model.load_state_dict(own)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = classifier(x, mode='tensor')
        torch.testing.assert_close(model(x), expected)


# (name, small arch for speed, input size)
MODELS = [
    ('attentionvig_s', dict(arch=TINY), 96),
    ('greedyvig_s', dict(arch=TINY), 96),
    ('mobilevig_s',
     dict(arch=dict(TINY, depths=[1, 1, 1, 0], num_graphers=[0, 0, 0, 1])),
     96), ('adaptvig_s', dict(arch=TINY), 96),
    ('sagvit_small', dict(arch=SAG_TINY), 96)
]


@pytest.fixture(params=MODELS, ids=[m[0] for m in MODELS])
def spec(request):
    return request.param


def create(name, kwargs, **extra):
    torch.manual_seed(0)
    return timm.create_model(name, **kwargs, **extra)


def test_registered_with_default_cfgs():
    names = timm.list_models('adaptvig_*') + timm.list_models(
        'attentionvig_*') + timm.list_models('greedyvig_*') + timm.list_models(
            'mobilevig_*') + timm.list_models('sagvit_*')
    assert names == [
        'adaptvig_b', 'adaptvig_m', 'adaptvig_s', 'attentionvig_b',
        'attentionvig_m', 'attentionvig_s', 'greedyvig_b', 'greedyvig_m',
        'greedyvig_s', 'mobilevig_b', 'mobilevig_m', 'mobilevig_s',
        'mobilevig_ti', 'sagvit_base', 'sagvit_small'
    ]
    for name in names:
        cfg = timm.models.get_pretrained_cfg(name).to_dict()
        assert cfg['input_size'] == (3, 224, 224)
        assert cfg['interpolation'] == 'bicubic'
        assert len(cfg['mean']) == len(cfg['std']) == 3
        assert 0 < cfg['crop_pct'] <= 1
    assert timm.models.get_pretrained_cfg('attentionvig_s').crop_pct == 0.9


def test_forward_backward_and_default_cfg_modules(spec):
    name, kwargs, size = spec
    model = create(name, kwargs, num_classes=5)
    x = torch.randn(2, 3, size, size)
    out = model(x)
    assert out.shape == (2, 5)
    out.sum().backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, unused[:5]
    cfg = model.pretrained_cfg
    modules = dict(model.named_modules())
    assert isinstance(modules[cfg['first_conv']], torch.nn.Conv2d)
    classifiers = cfg['classifier']
    for classifier in ([classifiers]
                       if isinstance(classifiers, str) else classifiers):
        assert isinstance(modules[classifier], torch.nn.Linear)
        assert modules[classifier].out_features == 5


def test_data_config_resolves_to_a_transform(spec):
    name, kwargs, _ = spec
    model = create(name, kwargs)
    config = resolve_data_config({}, model=model)
    assert config['input_size'] == (3, 224, 224)
    assert config['crop_pct'] == model.pretrained_cfg['crop_pct']
    assert create_transform(**config) is not None


def test_features_head_and_reset_classifier(spec):
    name, kwargs, size = spec
    model = create(name, kwargs, num_classes=5).eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        features = model.forward_features(x)
        torch.testing.assert_close(model.forward_head(features), model(x))
        hidden = model.forward_head(features, pre_logits=True)
        assert hidden.shape == (2, model.head_hidden_size)
        model.reset_classifier(0)
        assert model.get_classifier() is model.head
        torch.testing.assert_close(model(x), hidden)
        model.reset_classifier(3)
        assert model(x).shape == (2, 3)


def test_features_only(spec):
    name, kwargs, size = spec
    model = create(name, kwargs, features_only=True, out_indices=(0, 2, 3))
    outs = model(torch.randn(2, 3, size, size))
    assert [o.shape[1] for o in outs] == model.feature_info.channels()
    assert model.feature_info.reduction() == [4, 16, 32]
    assert [o.shape[-1] for o in outs] == [size // r for r in (4, 16, 32)]
    outs[-1].mean().backward()
    everything = create(name, kwargs, features_only=True)
    assert everything.feature_info.reduction() == [4, 8, 16, 32]


def test_grad_checkpointing_keeps_results(spec):
    name, kwargs, size = spec
    model = create(name, kwargs, num_classes=4)
    x = torch.randn(2, 3, size, size)
    model.eval()  # batch statistics would differ between the two passes
    expected = model(x)
    expected.sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing(True)
    out = model(x)
    out.sum().backward()
    torch.testing.assert_close(out, expected)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[n], msg=n)


def test_group_matcher_and_no_weight_decay(spec):
    name, kwargs, _ = spec
    model = create(name, kwargs)
    for coarse in (False, True):
        groups = group_parameters(model, model.group_matcher(coarse=coarse))
        grouped = [n for names in groups.values() for n in names]
        assert sorted(grouped) == sorted(n
                                         for n, _ in model.named_parameters())
        assert len(groups) > 2
    params = dict(model.named_parameters())
    assert model.no_weight_decay() and model.no_weight_decay() <= set(params)


def test_mmvig_checkpoint_loads_through_timm(spec, tmp_path):
    name, kwargs, size = spec
    trained = create(name, kwargs, num_classes=5).eval()
    path = tmp_path / 'cls.pth'
    torch.save({
        'state_dict': trained.state_dict(),
        'meta': {
            'epoch': 3
        }
    }, path)
    x = torch.randn(1, 3, size, size)
    for extra in (dict(checkpoint_path=str(path)),
                  dict(
                      pretrained=True,
                      pretrained_cfg_overlay=dict(file=str(path)))):
        loaded = create(name, kwargs, num_classes=5, **extra).eval()
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), trained(x))


def test_reset_classifier_without_pooling_returns_the_unpooled_map(spec):
    """timm's contract: ``reset_classifier(0, '')`` removes the classifier
    and the global pooling (AttentionViG, GreedyViG); SAG-ViT is a
    class-token model, whose only pooling is the token."""
    name, kwargs, size = spec
    model = create(name, kwargs).eval()
    x = torch.randn(2, 3, size, size)
    if name.startswith('sagvit'):
        assert model.global_pool == 'token'
        with pytest.raises(ValueError, match="global_pool must be one of"):
            model.reset_classifier(0, '')
        return
    with torch.no_grad():
        features = model.forward_features(x)
        model.reset_classifier(0, '')
        torch.testing.assert_close(model(x), features)
    assert features.dim() == 4 and features.shape[1] == model.num_features
    with pytest.raises(ValueError, match='use it with num_classes=0'):
        model.reset_classifier(5, '')
    model.reset_classifier(5, 'avg')
    assert model(x).shape == (2, 5)


def _tracer_kwargs():
    from timm.models import get_notrace_functions, get_notrace_modules
    return dict(
        leaf_modules=get_notrace_modules(),
        autowrap_functions=get_notrace_functions(),
        param_shapes_constant=True)


def test_fx_feature_extraction_matches_the_model(spec):
    """torchvision's ``create_feature_extractor`` with timm's tracer settings
    (what timm's FX tests and ``feature_cls='fx'`` use) traces the whole
    model; its output equals the model's, in eval and in train mode."""
    from torchvision.models.feature_extraction import (
        create_feature_extractor, get_graph_node_names)
    name, kwargs, size = spec
    model = create(name, kwargs, num_classes=7).eval()
    x = torch.randn(2, 3, size, size)
    _, nodes = get_graph_node_names(model, tracer_kwargs=_tracer_kwargs())
    traced = create_feature_extractor(
        model, return_nodes=[nodes[-1]], tracer_kwargs=_tracer_kwargs())
    with torch.no_grad():
        torch.testing.assert_close(traced(x)[nodes[-1]], model(x))
    traced.train()
    traced(x)[nodes[-1]].mean().backward()
    assert all(p.grad is not None for p in traced.parameters())


def test_attentionvig_traces_with_plain_torch_fx():
    """The size-dependent helpers are ``torch.fx.wrap``-ped, so the backbone
    traces with plain ``torch.fx.symbolic_trace`` (no timm lists, as an
    mmdet or mmseg user would trace it), stage outputs included."""
    from mmvig.models import AttentionViG
    torch.manual_seed(0)
    backbone = AttentionViG(arch=TINY, out_indices=(0, 1, 2, 3)).eval()
    graph = torch.fx.symbolic_trace(backbone)
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        for ours, traced in zip(backbone(x), graph(x)):
            torch.testing.assert_close(traced, ours)
    with pytest.raises(Exception, match='too small for AttentionViG'):
        graph(torch.randn(1, 3, 8, 8))  # the size check is in the graph


def test_timm_fx_features_only():
    """``features_only=True, feature_cls='fx'`` (timm's FeatureGraphNet over
    the ``feature_info`` modules) returns the stages that the default
    (``forward_intermediates``) feature extractor returns."""
    torch.manual_seed(0)
    fx = timm.create_model(
        'attentionvig_s', arch=TINY, features_only=True,
        feature_cls='fx').eval()
    getter = timm.create_model(
        'attentionvig_s', arch=TINY, features_only=True).eval()
    getter.load_state_dict({
        k.replace('graph_module.', 'model.', 1): v
        for k, v in fx.state_dict().items()
    })
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        for a, b in zip(fx(x), getter(x)):
            torch.testing.assert_close(a, b)


def test_sagvit_levels_need_no_setup():
    """SAG-ViT's timm levels are the trunk's stride-4/8/16 maps and the token
    grid: every index answers on a model as ``create_model`` builds it, the
    ``feature_info`` modules exist, and pruning to a level leaves a model
    whose parameters all get gradients."""
    model = create('sagvit_small', dict(arch=SAG_TINY)).eval()
    x = torch.randn(2, 3, 96, 96)
    final, levels = model.forward_intermediates(x)
    assert [t.shape[1] for t in levels] == \
        [info['num_chs'] for info in model.feature_info]
    assert [96 // t.shape[-1] for t in levels] == [4, 8, 16, 32]
    torch.testing.assert_close(final, model.forward_features(x))
    names = dict(model.named_modules())
    assert all(info['module'] in names for info in model.feature_info)
    for level in range(3):
        pruned = create('sagvit_small', dict(arch=SAG_TINY)).eval()
        pruned.load_state_dict(model.state_dict())
        pruned.prune_intermediate_layers([level])
        torch.testing.assert_close(pruned.forward_features(x), levels[level])
        assert pruned.backbone.patch_embed is None
        pruned.train()
        pruned(x).mean().backward()
        assert all(p.grad is not None for p in pruned.parameters())


def test_factory_device_and_dtype(spec):
    """timm's ``device=`` / ``dtype=`` factory arguments: every tensor on the
    meta device (nothing allocated), in the dtype asked for; a new
    classifier follows the model's device and dtype."""
    name, kwargs, _ = spec
    model = timm.create_model(
        name, **kwargs, device='meta', dtype=torch.float64)
    tensors = list(model.parameters()) + [
        b for b in model.buffers() if b.is_floating_point()
    ]
    assert {t.device.type for t in tensors} == {'meta'}
    assert {t.dtype for t in tensors} == {torch.float64}
    model.reset_classifier(3)
    assert {p.device.type for p in model.get_classifier().parameters()} == \
        {'meta'}


def test_same_padding_conv_matches_mmcv():
    """SAG-ViT's trunk convs (replaced by an FX-traceable class) pad as
    mmcv's ``Conv2dAdaptivePadding``, odd sizes and strides included."""
    from mmcv.cnn.bricks import Conv2dAdaptivePadding

    from mmvig.models.sag_vit import SamePaddingConv2d, same_padding_convs
    torch.manual_seed(0)
    for kernel, stride, size in [(3, 2, (17, 22)), (3, 1, (9, 8)),
                                 (5, 2, (15, 15)), (1, 2, (7, 9))]:
        conv = torch.nn.Sequential(Conv2dAdaptivePadding(4, 6, kernel, stride))
        x = torch.randn(2, 4, *size)
        expected = conv(x)
        assert same_padding_convs(conv) == 1
        assert type(conv[0]) is SamePaddingConv2d
        torch.testing.assert_close(conv(x), expected)
    trunk_convs = [
        type(m) for m in create('sagvit_small', dict(arch=SAG_TINY)).modules()
        if isinstance(m, Conv2dAdaptivePadding)
    ]
    assert trunk_convs and set(trunk_convs) == {SamePaddingConv2d}


def test_switched_trunk_convs_keep_the_trunks_init(monkeypatch):
    """mmengine's initialisers match layers by the names of their class and
    its direct bases: with the switched convs, a seeded SAG-ViT initialises
    exactly as with mmcv's own ``Conv2dAdaptivePadding`` (same draws)."""
    from mmcv.cnn.bricks import Conv2dAdaptivePadding

    from mmvig.models import SAGViT, sag_vit

    def build():
        torch.manual_seed(0)
        model = SAGViT(arch=SAG_TINY)
        model.init_weights()
        return model.state_dict()

    ours = build()
    monkeypatch.setattr(sag_vit, 'SamePaddingConv2d', Conv2dAdaptivePadding)
    reference = build()
    assert list(ours) == list(reference)
    for key in ours:
        torch.testing.assert_close(ours[key], reference[key], msg=key)


@pytest.mark.parametrize('indices, taken', [(None, [0, 1, 2, 3]), (1, [3]),
                                            (3, [1, 2, 3]), ([0, -1], [0, 3]),
                                            ((2, -2, 1), [1, 2])])
def test_intermediate_indices_as_timm_reads_them(indices, taken):
    model = timm.create_model('attentionvig_s', arch=TINY).eval()
    with torch.no_grad():
        _, levels = model.forward_intermediates(
            torch.randn(1, 3, 96, 96), indices=indices)
    assert [96 // level.shape[-1] for level in levels] == \
        [4 * 2**i for i in taken]


@pytest.mark.parametrize('indices, message', [(0, 'from 1 to 4'),
                                              (5, 'from 1 to 4'),
                                              ([4], 'level 4 of'),
                                              ([-5], 'level -5 of')])
def test_intermediate_indices_out_of_range(indices, message):
    from mmvig.errors import InputError
    model = timm.create_model('attentionvig_s', arch=TINY)
    with pytest.raises(InputError, match=message):
        model.forward_intermediates(torch.randn(1, 3, 96, 96), indices=indices)
