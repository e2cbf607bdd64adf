"""Wrong arguments to mmvig's models get a clear error that names them, and
the smallest input an error names works."""
import pytest
import torch

import mmvig
from mmvig.errors import InputError
from mmvig.testing import SAG_TINY, TINY, level_shapes


def attention_vig(**kwargs):
    return lambda: mmvig.AttentionViG(TINY, **kwargs)


def sag_vit(**kwargs):
    return lambda: mmvig.SAGViT(SAG_TINY, **kwargs)


def cross_attention(**kwargs):
    return attention_vig(aggregator=dict(type='CrossAttention', **kwargs))


def forward(size):
    return lambda: mmvig.AttentionViG('s')(torch.randn(1, 3, *size))


CONSTRUCTION = [
    ('unknown arch', lambda: mmvig.AttentionViG('xl'),
     "Unknown AttentionViG arch 'xl'"),
    *[(f'graph_strides={value}', attention_vig(graph_strides=value),
       f'graph_strides.*must be a positive integer, got {value}')
      for value in (0, -1, 2.5)],
    ('max_shifts=0', attention_vig(max_shifts=0),
     'max_shifts.*or None.*must be a positive integer, got 0'),
    *[(f'num_heads={value}', cross_attention(num_heads=value),
       f'num_heads must be a positive integer, got {value}')
      for value in (0, -8)],
    ('num_heads not dividing', cross_attention(num_heads=5),
     'num_heads=5 must divide the 16 channels'),
    ('num_heads and head_dim', cross_attention(num_heads=2, head_dim=8),
     'num_heads or head_dim, not both'),
    ('out_indices=()', attention_vig(out_indices=()), 'out_indices is empty'),
    ('drop_path_rate=1.5', attention_vig(drop_path_rate=1.5),
     r'drop_path_rate must be in \[0, 1\), got 1.5'),
    ('SAG-ViT drop_path_rate=-0.1',
     lambda: mmvig.SAGViT(SAG_TINY, drop_path_rate=-0.1),
     r'drop_path_rate must be in \[0, 1\), got -0.1'),
    ('init_beta too large', cross_attention(init_beta=1e5),
     r'init_beta must lie in \[4.54e-05, 2.2e\+04\].*got 100000.0'),
    ('init_beta too small', cross_attention(init_beta=1e-6),
     r'init_beta must lie in .*got 1e-06'),
    ('unknown aggregator', attention_vig(aggregator=dict(type='MaxPool')),
     "Unknown aggregator 'MaxPool'"),
    *[(f'{name}={value!r}', build(**{name: value}),
       f'{name} must be True or False, got {value!r}')
      for build, names in ((attention_vig,
                            ('with_cp', 'norm_eval', 'pos_embed_in_branch')),
                           (sag_vit, ('with_cp', 'norm_eval')))
      for name in names for value in ('no', 'false', 'False', 1, None)],
    ('with_cp per stage with a string',
     attention_vig(with_cp=[False, 'no', False, False]),
     "with_cp must be True or False, got 'no'"),
    *[(f'{model} out_indices={value!r}', build(out_indices=value), message)
      for model, build in (('AttentionViG', attention_vig),
                           ('SAG-ViT', sag_vit))
      for value, message in (
          ((1.5, ), r'out_indices must be integers, got 1.5 in \(1.5,\)'),
          ('0123', "out_indices must be an int or a list/tuple of ints, "
           "got '0123'"), ((True, ), 'out_indices must be integers, got True'),
          ((0, 4), r'out_indices must be in \[-4, 3\], got 4'))],
    *[(f'{model} frozen_stages={value!r}', build(frozen_stages=value), message)
      for model, build in (('AttentionViG', attention_vig),
                           ('SAG-ViT', sag_vit))
      for value, message in (
          ('1', "frozen_stages must be an integer, got '1'"),
          (5, r'frozen_stages must be in \[-1, 4\], got 5'))],
    *[(f'{model} norm_cfg={cfg!r}', build(norm_cfg=cfg), message)
      for model, build in (('AttentionViG', attention_vig),
                           ('SAG-ViT', sag_vit))
      for cfg, message in (
          (dict(type='LN'), f"{model}'s norm_cfg {{'type': 'LN'}} cannot "
           r'normalise its \(B, \d+, H, W\) feature maps'),
          (dict(type='BN1d'), 'cannot normalise.*use a 2-D norm'),
          ('BN', f"{model}'s norm_cfg must be a dict with a type, got 'BN'"))],
    ('drop_path_rate as text', attention_vig(drop_path_rate='0.1'),
     "drop_path_rate must be a number, got '0.1'"),
    ('in_channels=0', attention_vig(in_channels=0),
     r'in_channels must be a positive integer, got 0'),
    ('arch widths as floats', lambda: mmvig.AttentionViG(
        dict(widths=[16.0] * 4, depths=1, num_graphers=1)),
     'arch.widths must be a positive integer, got 16.0'),
    ('SAG-ViT patch_size as text', sag_vit(patch_size='2'),
     "patch_size must be a positive integer, got '2'"),
    ('SAG-ViT k=0', sag_vit(k=0),
     r'k \(graph connectivity\) must be a positive integer, got 0'),
    ('SAG-ViT trunk_init_cfg as a path', sag_vit(trunk_init_cfg='x.pth'),
     "trunk_init_cfg must be dict\\(type='Pretrained'"),
    ('input 32x32', forward(
        (32, 32)), 'stage 3 would be a 2x2 map.*at least 65 pixels'),
    ('input 33x33', forward(
        (33, 33)), 'stage 4 would be a 2x2 map.*at least 65 pixels'),
]


@pytest.mark.parametrize(
    'build,message', [c[1:] for c in CONSTRUCTION],
    ids=[c[0] for c in CONSTRUCTION])
def test_bad_arguments(build, message):
    with pytest.raises(InputError, match=message):
        build()


def test_the_smallest_input_the_message_names_works():
    """65 pixels on the longer side, as the too-small message says: every
    level comes out, stage 4's map 3x2."""
    with torch.no_grad():
        outs = mmvig.AttentionViG('s').eval()(torch.randn(1, 3, 65, 40))
    assert [tuple(o.shape[-2:]) for o in outs] == level_shapes(65, 40)
    assert tuple(outs[-1].shape[-2:]) == (3, 2)
