"""mmvig.models.model_hub: mmpretrain's get_model, list_models and
inferencers take mmvig's model names; asking for weights is refused with the
command that trains them."""
import numpy as np
import pytest

import mmvig  # noqa: F401
from mmvig.errors import InputError


def test_mmpretrain_lists_and_builds_mmvig_models():
    from mmpretrain import get_model, list_models
    assert set(list_models('*attentionvig*')) == {
        'attentionvig-s_in1k', 'attentionvig-m_in1k', 'attentionvig-b_in1k'
    }
    assert set(list_models('*sagvit*')) == {
        'sagvit-small_in1k', 'sagvit-base_in1k', 'sagvit-base_cifar10'
    }
    assert set(list_models('*greedyvig*')) == {
        'greedyvig-s_in1k', 'greedyvig-m_in1k', 'greedyvig-b_in1k'
    }
    assert type(get_model('greedyvig-m_in1k').backbone).__name__ == \
        'GreedyViG'
    assert set(list_models('*mobilevig*')) == {
        'mobilevig-ti_in1k', 'mobilevig-s_in1k', 'mobilevig-m_in1k',
        'mobilevig-b_in1k'
    }
    assert set(list_models('*adaptvig*')) == {
        'adaptvig-s_in1k', 'adaptvig-m_in1k', 'adaptvig-b_in1k'
    }
    assert type(get_model('adaptvig-s_in1k').backbone).__name__ == \
        'AdaptViG'
    model = get_model('attentionvig-s_in1k')
    assert type(model).__name__ == 'DistillationClassifier'
    assert type(model.backbone).__name__ == 'AttentionViG'
    assert model.backbone.arch_settings['widths'] == [48, 96, 192, 384]
    assert model.teacher is None  # built for inference


@pytest.mark.parametrize('build', ['get_model', 'inferencer'])
def test_weights_are_refused_with_the_command_that_trains_them(build):
    from mmpretrain import ImageClassificationInferencer, get_model
    with pytest.raises(
            InputError,
            match=r'mmvig publishes no pretrained '
            r'weights for attentionvig-s_in1k: train them '
            r'\(tools/train.py configs/attentionvig_s_in1k.py\)'):
        if build == 'get_model':
            get_model('attentionvig-s_in1k', pretrained=True)
        else:
            ImageClassificationInferencer('attentionvig-s_in1k')


def test_converted_weights_are_refused_with_the_converter_command():
    from mmpretrain import get_model
    with pytest.raises(
            InputError,
            match=r'mmvig hosts no weights for greedyvig-b_in1k: download '
            r"the authors' \(https://huggingface.co/SLDGroup/GreedyViG/tree/"
            r'main\), convert them \(python tools/model_converters/'
            r'lineage_to_mmvig.py configs/greedyvig/greedyvig_b_in1k.py SRC '
            r'DST\)'):
        get_model('greedyvig-b_in1k', pretrained=True)


def test_inferencer_runs_an_initialised_model():
    """mmpretrain's inferencer builds its pipeline in the current default
    scope, which it does not set: the scope is named, as a process that
    built an mmseg model before (an earlier test) must."""
    from mmengine.registry import DefaultScope
    from mmpretrain import ImageClassificationInferencer
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        inferencer = ImageClassificationInferencer(
            'attentionvig-s_in1k', pretrained=False)
    image = np.random.default_rng(0).integers(
        0, 255, (240, 300, 3), dtype=np.uint8)
    result = inferencer(image)[0]
    assert 0 <= result['pred_label'] < 1000
    assert result['pred_scores'].shape == (1000, )
