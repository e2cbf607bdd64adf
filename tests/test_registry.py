"""mmvig.registry: the registries of mmengine, mmpretrain, mmdet, mmseg and
timm hand out mmvig's classes; import mmvig imports no task library."""
import textwrap

import pytest
import torch
from mmengine.registry import DefaultScope

import mmvig
from mmvig import AttentionViG, SAGViT
from mmvig.apis import read_config
from mmvig.testing import SAG_TINY, TINY, run_tool


@pytest.mark.parametrize('library', ['mmpretrain', 'mmdet', 'mmseg'])
def test_builds_from_each_registry(library):
    registry = __import__(f'{library}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(library):
        model = registry.build(dict(type='SAGViT', arch=SAG_TINY))
    assert isinstance(model, SAGViT)


@pytest.mark.parametrize('library', ['mmpretrain', 'mmdet', 'mmseg'])
def test_backbone_builds_from_each_registry(library):
    registry = __import__(f'{library}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(library):
        model = registry.build(dict(type='AttentionViG', arch=TINY))
        hook = __import__(f'{library}.registry', fromlist=['HOOKS']).HOOKS \
            .build(dict(type='FreezeBetaHook'))
    assert isinstance(model, AttentionViG)
    assert type(hook).__name__ == 'FreezeBetaHook'


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_mmdet_config_builds_mask_rcnn(tmp_path):
    from mmdet.registry import MODELS
    cfg = read_config(
        _write(
            tmp_path, 'det.py', f"""
        _base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
        custom_imports = dict(imports=['mmvig'])
        model = dict(
            backbone=dict(_delete_=True, type='AttentionViG', arch={TINY!r}),
            neck=dict(in_channels=[16, 32, 64, 128]))
        """))
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model).eval()
    assert isinstance(model.backbone, AttentionViG)
    feats = model.extract_feat(torch.randn(1, 3, 128, 160))
    assert [f.shape[-1] for f in feats] == [40, 20, 10, 5, 3]


def test_mmseg_config_builds_semantic_fpn(tmp_path):
    from mmseg.registry import MODELS
    cfg = read_config(
        _write(
            tmp_path, 'seg.py', f"""
        _base_ = 'mmseg::_base_/models/fpn_r50.py'
        custom_imports = dict(imports=['mmvig'])
        norm_cfg = dict(type='BN', requires_grad=True)
        model = dict(
            pretrained=None,
            data_preprocessor=dict(size=(128, 128)),
            backbone=dict(_delete_=True, type='AttentionViG', arch={TINY!r}),
            neck=dict(in_channels=[16, 32, 64, 128]),
            decode_head=dict(num_classes=5, norm_cfg=norm_cfg))
        """))
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 128, 128), mode='tensor')
    assert logits.shape == (1, 5, 32, 32)


@pytest.mark.parametrize('arch', ['s', 'm', 'b'])
def test_imagenet_configs_build(arch):
    from mmpretrain.registry import MODELS
    cfg = read_config(f'configs/attentionvig_{arch}_in1k.py')
    assert cfg.model.teacher.model_name == 'regnety_160.deit_in1k'
    assert cfg.auto_scale_lr.base_batch_size == 2048
    assert cfg.optim_wrapper.optimizer.lr == 2e-3
    assert cfg.train_cfg.max_epochs == 300
    cfg.model.teacher.pretrained = False  # no download in tests
    cfg.model.teacher.model_name = 'resnet10t'
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    assert model.backbone.arch_settings == AttentionViG.arch_zoo[arch]
    assert not any(k.startswith('teacher') for k in model.state_dict())


def test_import_registers_names_without_importing_task_libraries():
    """A timm user's process: mmvig registers its names (timm's entry points
    as soon as timm is imported) and imports no task library."""
    code = textwrap.dedent("""
        import sys
        import mmvig
        heavy = ('mmdet', 'mmseg', 'mmpretrain', 'timm')
        assert not any(m in sys.modules for m in heavy), [
            m for m in heavy if m in sys.modules]
        import importlib.util
        assert importlib.util.find_spec('timm')  # a check, not an import
        import timm
        model = timm.create_model('attentionvig_s', num_classes=3)
        assert not any(m in sys.modules for m in heavy[:3]), [
            m for m in heavy[:3] if m in sys.modules]
        print('ok', type(model).__name__)
        """)
    output = run_tool('-c', code, timeout=300)
    assert 'ok AttentionViGClassifier' in output


def test_timm_imported_first_registers_too():
    code = textwrap.dedent("""
        import timm
        import mmvig
        print(sorted(timm.list_models('attentionvig_*')))
        """)
    output = run_tool('-c', code, timeout=300)
    assert "['attentionvig_b', 'attentionvig_m', 'attentionvig_s']" in \
        output


def test_name_clash_is_an_error():
    """A name another package registered first in mmengine's root registry
    is refused, naming both classes; the other package's entry stays."""
    from mmengine.registry import Registry

    from mmvig.registry import MMVigRegistry, RegistrationClash
    root = Registry('clash test')
    ours = MMVigRegistry('clash test', parent=root, scope='mmvig_clash')

    @root.register_module(name='AttentionViG')
    class Other:
        pass

    with pytest.raises(RegistrationClash, match="'AttentionViG'.*Other"):
        ours.register_module(name='AttentionViG', module=AttentionViG)
    assert root.get('AttentionViG') is Other
    assert 'AttentionViG' not in ours.module_dict


def _mmvig_classes():
    """Every class mmvig registers, by registry kind."""
    import mmpretrain.models  # noqa: F401  (registers the classifier parts)

    from mmvig import datasets, engine, models
    from mmvig.models import distillation, vig_cross_attention
    return {
        'model': [
            models.AdaptViG, models.AttentionViG, models.GreedyViG,
            models.MobileViG, models.SAGViT, distillation.AttentionViGClsHead,
            distillation.DistillationClassifier,
            vig_cross_attention.CrossAttentionVig
        ],
        'hook': [
            engine.AtomicCheckpointHook, engine.DataCheckHook,
            engine.DivergenceHook, engine.FreezeBetaHook, engine.StrictLoadHook
        ],
        'model_wrapper': [engine.AnyDeviceDistributedDataParallel],
        'runner': [engine.MMVigRunner],
        'transform': [datasets.AlignResize],
    }


@pytest.mark.parametrize('library',
                         ['mmengine', 'mmpretrain', 'mmdet', 'mmseg'])
def test_registries_hand_out_the_classes(library):
    """``get(name)`` of mmengine's root registries and of mmpretrain's,
    mmdet's and mmseg's is the class itself (subclassable, introspectable),
    under its bare name and as ``mmvig.NAME``; mmvig's own registries hold
    the same classes and nothing else."""
    import importlib

    from mmvig import registry as ours
    registries = importlib.import_module(f'{library}.registry')
    kinds = dict(
        model='MODELS',
        hook='HOOKS',
        model_wrapper='MODEL_WRAPPERS',
        runner='RUNNERS',
        transform='TRANSFORMS')
    classes = _mmvig_classes()
    for kind, expected in classes.items():
        registry = getattr(registries, kinds[kind])
        for cls in expected:
            assert registry.get(cls.__name__) is cls, (library, cls)
            assert registry.get(f'mmvig.{cls.__name__}') is cls
        assert sorted(getattr(ours, kinds[kind]).module_dict) == \
            sorted(c.__name__ for c in expected)
    assert issubclass(registries.MODELS.get('AttentionViG'), torch.nn.Module)
    assert 's' in registries.MODELS.get('AttentionViG').arch_zoo


def test_timm_model_loads_mmpretrain_checkpoint_keys():
    import timm
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        cls = MODELS.build(
            dict(
                type='DistillationClassifier',
                backbone=dict(
                    type='AttentionViG', arch='s', out_indices=(3, )),
                head=dict(
                    type='AttentionViGClsHead',
                    num_classes=10,
                    in_channels=384)))
    model = timm.create_model('attentionvig_s', num_classes=10)
    assert set(cls.state_dict()) == set(model.state_dict())


@pytest.mark.long
def test_missing_library_leaves_others_working():
    code = textwrap.dedent("""
        import sys
        sys.modules['mmdet'] = None  # as if mmdet were not installed
        import mmvig
        from mmengine.registry import DefaultScope
        from mmseg.registry import MODELS
        with DefaultScope.overwrite_default_scope('mmseg'):
            backbone = MODELS.build(dict(type='AttentionViG', arch='s'))
        assert isinstance(backbone, mmvig.AttentionViG)
        from mmpretrain.registry import MODELS
        assert MODELS.get('DistillationClassifier') is not None
        print('ok')
        """)
    output = run_tool('-c', code, timeout=300)
    assert 'ok' in output


def test_version():
    assert mmvig.__version__.count('.') == 2
