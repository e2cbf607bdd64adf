"""State dicts of the authors' lineage models (GreedyViG's ``main.py``
checkpoints) as mmvig's backbones name them.

The authors' convs before a BatchNorm carry a bias; mmvig's (``ConvModule``
with a norm) do not: the bias goes into the BatchNorm's running mean
(``BN(Wx + b)`` with mean ``mu`` is ``BN(Wx)`` with mean ``mu - b``), so the
model computes the same function, in eval mode and in training (a batch's
mean absorbs ``b``). A key that maps nowhere, or a key of the model left
unfilled, stops the conversion naming the keys.
"""
import re
from typing import Dict, List, Tuple

import torch

from ..errors import InputError

StateDict = Dict[str, torch.Tensor]

# GreedyViG backbone: (authors' regex, mmvig's key template). Conv + BN
# pairs are listed by their conv; the BN follows it (see _conv_bn).
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


def _bn_key(conv: str) -> str:
    """The key prefix of the BatchNorm after the authors' conv ``conv``."""
    head, _, last = conv.rpartition('.')
    if last in _BN_OF:
        return f'{head}.{_BN_OF[last]}'
    return f'{head}.{int(last) + 1}'


def greedyvig_backbone(state_dict: StateDict) -> StateDict:
    """The backbone weights of a GreedyViG checkpoint of the authors'
    (``stem.*`` and ``backbone.*``; the heads are left out) under
    :class:`mmvig.models.GreedyViG`'s keys.

    Raises:
        InputError: a stem or backbone key maps nowhere.
    """
    out: StateDict = {}
    used = set()
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
            bn = _bn_key(conv)
            bias = state_dict.get(f'{conv}.bias')
            out[f'{target}.conv.weight'] = state_dict[key]
            for name in _BN_STATE:
                out[f'{target}.bn.{name}'] = state_dict[f'{bn}.{name}']
            if bias is not None:
                out[f'{target}.bn.running_mean'] = \
                    state_dict[f'{bn}.running_mean'] - bias
            used.update({key, f'{conv}.bias'}
                        | {f'{bn}.{name}'
                           for name in _BN_STATE})
            break
    for key, value in state_dict.items():
        for pattern, template in _GREEDYVIG_PLAIN:
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
    left = sorted(
        k for k in state_dict
        if k.startswith(('stem.', 'backbone.')) and k not in used)
    if left:
        raise InputError(f'{len(left)} GreedyViG backbone keys map to no '
                         f'key of mmvig\'s GreedyViG, first {left[:5]}')
    return out
