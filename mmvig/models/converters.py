"""The authors' lineage checkpoints (GreedyViG: SLDGroup/GreedyViG; MobileViG:
SLDGroup/MobileViG; AdaptViG: mmunir127/AdaptViG) as mmvig's models name
them.

Three kinds of file, one mapping of the backbone:

- ImageNet classifiers of the authors' ``main.py`` (``model``,
  ``state_dict`` and their EMA twins ``model_ema`` / ``state_dict_ema``):
  :func:`classifier` gives mmpretrain's ``DistillationClassifier`` with
  ``AttentionViGClsHead`` (``backbone.*``, ``head.*``);
- mmdet 2.28 Mask R-CNN and mmseg 0.x Semantic FPN checkpoints:
  :func:`dense` maps their ``backbone.*`` and keeps every other
  key as it is (mmdet 3 and mmseg 1 name the necks and heads as mmdet 2 and
  mmseg 0.x did: their own model zoos serve the 2.x / 0.x files for Mask
  R-CNN and Semantic FPN).

The authors' convs before a BatchNorm carry a bias; mmvig's (``ConvModule``
with a norm) do not: the bias goes into the BatchNorm's running mean
(``BN(Wx + b)`` with mean ``mu`` is ``BN(Wx)`` with mean ``mu - b``), so the
model computes the same function, in eval mode and in training (a batch's
mean absorbs ``b``). A key that maps nowhere stops the conversion naming the
keys (``tools/model_converters/lineage_to_mmvig.py`` then checks that the
result fills every key of the config's model).
"""
import re
from typing import Callable, Dict, Iterable, List, Mapping, Set, Tuple

import torch

from ..errors import InputError
from .pretrained import without_module_prefix

StateDict = Dict[str, torch.Tensor]

# GreedyViG backbone: (authors' regex, mmvig's key template). Conv + BN
# pairs are listed by their conv; the BN follows it (see _bn_key).
_GREEDYVIG_CONV_BN: List[Tuple[str, str]] = [
    (r'stem\.stem\.(0|3)', 'stem.{stem}'),
    (r'backbone\.(\d+)\.0\.conv\.0', 'stages.{0}.0'),
    (r'backbone\.(\d+)\.(\d+)\.dws\.pw1', 'stages.{0}.{1}.branch.0'),
    (r'backbone\.(\d+)\.(\d+)\.dws\.dw', 'stages.{0}.{1}.branch.1'),
    (r'backbone\.(\d+)\.(\d+)\.dws\.pw2', 'stages.{0}.{1}.branch.2'),
    (r'backbone\.(\d+)\.(\d+)\.mixer\.fc1\.0',
     'stages.{0}.{1}.aggregate.branch.fc1'),
    (r'backbone\.(\d+)\.(\d+)\.mixer\.graph_conv\.nn\.0',
     'stages.{0}.{1}.aggregate.branch.out'),
    (r'backbone\.(\d+)\.(\d+)\.mixer\.fc2\.0',
     'stages.{0}.{1}.aggregate.branch.fc2'),
    (r'backbone\.(\d+)\.(\d+)\.ffn\.(0|3)', 'stages.{0}.{1}.ffn.branch.{ffn}'),
]
_BN_OF = {'pw1': 'norm1', 'dw': 'norm2', 'pw2': 'norm3'}
_GREEDYVIG_PLAIN: List[Tuple[str, str]] = [
    (r'backbone\.(\d+)\.(\d+)\.mixer\.cpe\.pe\.(weight|bias)',
     'stages.{0}.{1}.pos_embed.proj.{2}'),
    (r'backbone\.(\d+)\.(\d+)\.layer_scale_1',
     'stages.{0}.{1}.aggregate.layer_scale.weight'),
]
_BN_STATE = ('weight', 'bias', 'running_mean', 'running_var',
             'num_batches_tracked')
# AdaptViG: GreedyViG's layout, and the gates' temperatures (stages 1-3) and
# the global attention's projections and norms (stage 4).
_ADAPTVIG_PLAIN: List[Tuple[str, str]] = _GREEDYVIG_PLAIN + [
    (r'backbone\.(\d+)\.(\d+)\.mixer\.graph_conv\.temperature',
     'stages.{0}.{1}.aggregate.branch.temperature'),
    (r'backbone\.(\d+)\.(\d+)\.mixer\.graph_conv\.(q|k|v)_conv\.weight',
     'stages.{0}.{1}.aggregate.branch.{2}.weight'),
    (r'backbone\.(\d+)\.(\d+)\.mixer\.graph_conv\.(q|k)_norm\.'
     r'(weight|bias)', 'stages.{0}.{1}.aggregate.branch.{2}_norm.{3}'),
]
# The classifier's layers after the last stage.
_HEAD_PREFIXES = ('prediction.', 'head.', 'dist_head.')


def _bn_key(conv: str) -> str:
    """The key prefix of the BatchNorm after the authors' conv ``conv``."""
    head, _, last = conv.rpartition('.')
    if last in _BN_OF:
        return f'{head}.{_BN_OF[last]}'
    return f'{head}.{int(last) + 1}'


def _conv_bn(state_dict: Mapping[str, torch.Tensor], conv: str, bn: str,
             target: str, out: StateDict, used: Set[str]) -> None:
    """The authors' ``conv`` (weight, optional bias) and BatchNorm ``bn`` as
    ``{target}.conv`` / ``{target}.bn`` of a ``ConvModule``, the bias folded
    into the running mean."""
    if f'{conv}.weight' not in state_dict:
        raise InputError(f'the checkpoint has no {conv}.weight')
    missing = [
        f'{bn}.{name}' for name in _BN_STATE
        if f'{bn}.{name}' not in state_dict
    ]
    if missing:
        raise InputError(f'the checkpoint has {conv}.weight but not its '
                         f'BatchNorm\'s {missing}')
    out[f'{target}.conv.weight'] = state_dict[f'{conv}.weight']
    for name in _BN_STATE:
        out[f'{target}.bn.{name}'] = state_dict[f'{bn}.{name}']
    bias = state_dict.get(f'{conv}.bias')
    if bias is not None:
        out[f'{target}.bn.running_mean'] = \
            state_dict[f'{bn}.running_mean'] - bias
    used.update({f'{conv}.weight', f'{conv}.bias'}
                | {f'{bn}.{name}'
                   for name in _BN_STATE})


def _refuse_unmapped(keys: Iterable[str], used: Set[str], what: str) -> None:
    """``what``: the family and the part (``'GreedyViG backbone'``)."""
    left = sorted(k for k in keys if k not in used)
    if left:
        raise InputError(f'{len(left)} {what} keys map to no key of '
                         f"mmvig's {what.split()[0]}, first {left[:5]}")


def _axial_backbone(state_dict: Mapping[str, torch.Tensor],
                    plain: List[Tuple[str, str]], family: str) -> StateDict:
    """The backbone weights of GreedyViG's layout (``stem.*``, ``backbone.*``
    of downsamples, inverted residuals and Grapher blocks), with ``plain``'s
    keys copied as they are, under mmvig's keys of ``family``."""
    out: StateDict = {}
    used: Set[str] = set()
    for key in state_dict:
        if not key.endswith('.weight'):
            continue
        conv = key[:-len('.weight')]
        for pattern, template in _GREEDYVIG_CONV_BN:
            found = re.fullmatch(pattern, conv)
            if found is None:
                continue
            groups = found.groups()
            target = template.format(
                *groups,
                stem=int(groups[0] == '3'),
                ffn=int(groups[-1] == '3'))
            _conv_bn(state_dict, conv, _bn_key(conv), target, out, used)
            break
    for key, value in state_dict.items():
        for pattern, template in plain:
            found = re.fullmatch(pattern, key)
            if found is not None:
                target = template.format(*found.groups())
                out[target] = value.reshape(-1, 1, 1) \
                    if 'layer_scale' in target else value
                used.add(key)
        found = re.fullmatch(r'backbone\.(\d+)\.(\d+)\.layer_scale_2', key)
        if found is not None:
            stage, block = found.groups()
            branch = 'ffn' if f'backbone.{stage}.{block}.ffn.0.weight' in \
                state_dict else ''
            target = f'stages.{stage}.{block}.' + (
                f'{branch}.layer_scale.weight'
                if branch else 'layer_scale.weight')
            out[target] = value.reshape(-1, 1, 1)
            used.add(key)
    _refuse_unmapped(
        (k for k in state_dict if k.startswith(('stem.', 'backbone.'))), used,
        f'{family} backbone')
    return out


def greedyvig_backbone(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """The backbone weights of a GreedyViG checkpoint of the authors'
    (``stem.*`` and ``backbone.*``; the heads are left out) under
    :class:`mmvig.models.GreedyViG`'s keys.

    Raises:
        InputError: a stem or backbone key maps nowhere.
    """
    return _axial_backbone(state_dict, _GREEDYVIG_PLAIN, 'GreedyViG')


def adaptvig_backbone(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """The backbone weights of an AdaptViG checkpoint of the authors'
    (GreedyViG's layout with each gate's ``temperature`` and stage 4's
    ``q_conv`` / ``k_conv`` / ``v_conv`` / ``q_norm`` / ``k_norm``) under
    :class:`mmvig.models.AdaptViG`'s keys.

    Raises:
        InputError: a stem or backbone key maps nowhere.
    """
    return _axial_backbone(state_dict, _ADAPTVIG_PLAIN, 'AdaptViG')


# MobileViG: (authors' conv, its BatchNorm, mmvig's ConvModule) per block.
_MOBILEVIG_IRB = (('mlp.fc1', 'mlp.norm1',
                   'branch.0'), ('mlp.mid', 'mlp.mid_norm', 'branch.1'),
                  ('mlp.fc2', 'mlp.norm2', 'branch.2'))
_MOBILEVIG_GRAPHER = (('0.fc1.0', '0.fc1.1', 'aggregate.branch.fc1'),
                      ('0.graph_conv.nn.0', '0.graph_conv.nn.1',
                       'aggregate.branch.out'), ('0.fc2.0', '0.fc2.1',
                                                 'aggregate.branch.fc2'),
                      ('1.fc1.0', '1.fc1.1',
                       'ffn.branch.0'), ('1.fc2.0', '1.fc2.1', 'ffn.branch.1'))


def _indices(state_dict: Mapping[str, torch.Tensor], prefix: str) -> List[int]:
    """The module indices under ``prefix`` (a ModuleList), in order."""
    heads = (
        k[len(prefix):].split('.')[0] for k in state_dict
        if k.startswith(prefix))
    return sorted({int(h) for h in heads if h.isdigit()})


def mobilevig_backbone(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """The backbone weights of a MobileViG checkpoint of the authors'
    (``stem.*``, the flat ``local_backbone.*`` of inverted residuals and
    downsamples, ``backbone.*`` of Grapher + FFN pairs) under
    :class:`mmvig.models.MobileViG`'s keys: each downsample starts the next
    stage, the last one the global stage.

    Raises:
        InputError: a stem or backbone key maps nowhere, or a layer is
            incomplete.
    """
    out: StateDict = {}
    used: Set[str] = set()
    for conv, target in (('0', 'stem.0'), ('3', 'stem.1')):
        _conv_bn(state_dict, f'stem.stem.{conv}', f'stem.stem.{int(conv) + 1}',
                 target, out, used)
    stage, block = 0, 0
    for index in _indices(state_dict, 'local_backbone.'):
        source = f'local_backbone.{index}'
        if f'{source}.conv.0.weight' in state_dict:  # a downsample
            stage, block = stage + 1, 1
            _conv_bn(state_dict, f'{source}.conv.0', f'{source}.conv.1',
                     f'stages.{stage}.0', out, used)
            continue
        target = f'stages.{stage}.{block}'
        for conv, bn, name in _MOBILEVIG_IRB:
            _conv_bn(state_dict, f'{source}.{conv}', f'{source}.{bn}',
                     f'{target}.{name}', out, used)
        scale = f'{source}.layer_scale_2'
        if scale in state_dict:
            out[f'{target}.layer_scale.weight'] = \
                state_dict[scale].reshape(-1, 1, 1)
            used.add(scale)
        block += 1
    for index in _indices(state_dict, 'backbone.'):
        source = f'backbone.{index}'
        for conv, bn, name in _MOBILEVIG_GRAPHER:
            _conv_bn(state_dict, f'{source}.{conv}', f'{source}.{bn}',
                     f'stages.{stage}.{block}.{name}', out, used)
        block += 1
    _refuse_unmapped(
        (k for k in state_dict
         if k.startswith(('stem.', 'local_backbone.', 'backbone.'))), used,
        'MobileViG backbone')
    return out


def distilled_head(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """The authors' classifier layers (``prediction``: pool, 1x1 conv with
    bias, BatchNorm, GELU; ``head`` and ``dist_head``: 1x1 convs) under
    :class:`mmvig.models.AttentionViGClsHead`'s keys (``fc``, linear
    ``head`` / ``dist_head``). A file without ``dist_head`` (trained without
    distillation) gets ``head`` twice: the mean of the two is then ``head``,
    as the authors' model returns."""
    out: StateDict = {}
    used: Set[str] = set()
    _conv_bn(state_dict, 'prediction.1', 'prediction.2', 'fc', out, used)
    for name in ('head', 'dist_head'):
        source = name if f'{name}.weight' in state_dict else 'head'
        if f'{source}.bias' not in state_dict:
            raise InputError(f'the checkpoint has {source}.weight but not '
                             f'{source}.bias')
        weight = state_dict[f'{source}.weight']
        out[f'{name}.weight'] = weight.reshape(weight.shape[0], -1)
        out[f'{name}.bias'] = state_dict[f'{source}.bias']
    return out


# mmvig backbone -> (the converter of the authors' backbone weights, the
# key prefixes of those weights)
FAMILIES: Dict[str, Tuple[Callable[[Mapping[str, torch.Tensor]], StateDict],
                          Tuple[str, ...]]] = {
                              'GreedyViG':
                              (greedyvig_backbone, ('stem.', 'backbone.')),
                              'MobileViG':
                              (mobilevig_backbone, ('stem.', 'local_backbone.',
                                                    'backbone.')),
                              'AdaptViG':
                              (adaptvig_backbone, ('stem.', 'backbone.')),
                          }


def classifier(family: str, state_dict: Mapping[str,
                                                torch.Tensor]) -> StateDict:
    """An ImageNet checkpoint's weights of the authors' ``family`` model
    (``'GreedyViG'``, ``'MobileViG'``, ``'AdaptViG'``) under mmpretrain's
    ``DistillationClassifier`` keys (``backbone.*`` for mmvig's backbone of
    that name, ``head.*`` for ``AttentionViGClsHead``).

    Raises:
        InputError: a key maps nowhere, or the classifier layers are
            missing.
    """
    convert_backbone, prefixes = FAMILIES[family]
    missing = [
        k for k in ('prediction.1.weight', 'head.weight')
        if k not in state_dict
    ]
    if missing:
        raise InputError(
            f'not a {family} ImageNet classifier: no {missing} (a '
            'detection or segmentation checkpoint converts with a Mask '
            'R-CNN or Semantic FPN config)')
    out = {f'backbone.{k}': v for k, v in convert_backbone(state_dict).items()}
    out.update({f'head.{k}': v for k, v in distilled_head(state_dict).items()})
    _refuse_unmapped(
        state_dict,
        {k
         for k in state_dict if k.startswith(prefixes + _HEAD_PREFIXES)},
        f'{family} classifier')
    return out


def dense(family: str, state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """An mmdet 2.28 / mmseg 0.x checkpoint's weights with the authors'
    ``family`` backbone under mmdet 3 / mmseg 1 keys: ``backbone.*`` mapped,
    every other key (neck, heads) as it is.

    Raises:
        InputError: a backbone key maps nowhere.
    """
    convert_backbone, prefixes = FAMILIES[family]
    backbone = {
        k[len('backbone.'):]: v
        for k, v in state_dict.items() if k.startswith('backbone.')
    }
    _refuse_unmapped(
        (f'backbone.{k}' for k in backbone),
        {f'backbone.{k}'
         for k in backbone if k.startswith(prefixes)}, f'{family} backbone')
    try:
        converted = convert_backbone(backbone)
    except InputError as error:
        raise InputError(f"{error} (keys under the file's 'backbone.')") \
            from None
    out = {f'backbone.{k}': v for k, v in converted.items()}
    out.update({
        k: v
        for k, v in state_dict.items() if not k.startswith('backbone.')
    })
    return out


def pick_weights(checkpoint: Mapping) -> Tuple[str, StateDict]:
    """The weights of an authors' checkpoint: the EMA weights when the file
    has them (``state_dict_ema``, ``model_ema``; what their detection and
    segmentation backbones start from), else ``state_dict`` / ``model``,
    else the file itself when it is a flat dict of tensors. A ``module.``
    prefix (a DistributedDataParallel model saved whole) is dropped.

    Returns:
        tuple: the entry read (``''`` for the file itself) and its weights.

    Raises:
        InputError: no entry holds tensors.
    """
    if not isinstance(checkpoint, Mapping):
        raise InputError('the checkpoint is not a dict of weights (got '
                         f'{type(checkpoint).__name__})')
    for name in ('state_dict_ema', 'model_ema', 'state_dict', 'model', ''):
        weights = checkpoint.get(name) if name else checkpoint
        if isinstance(weights, Mapping) and weights and all(
                isinstance(v, torch.Tensor) for v in weights.values()):
            return name, without_module_prefix(dict(weights))
    raise InputError(
        'the checkpoint holds no weights: none of state_dict_ema, '
        'model_ema, state_dict, model is a dict of tensors (entries: '
        f'{sorted(map(str, checkpoint))[:8]})')
