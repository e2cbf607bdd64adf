# Semantic FPN with AttentionViG-M on ADE20K: the -S recipe.
_base_ = './fpn_attentionvig_s_ade20k.py'

imagenet_checkpoint = 'checkpoints/attentionvig_m_in1k.pth'
model = dict(
    backbone=dict(arch='m', init_cfg=dict(checkpoint=imagenet_checkpoint)),
    neck=dict(in_channels=[56, 112, 224, 448]))
