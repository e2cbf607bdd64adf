# Semantic FPN with AttentionViG-B on ADE20K: the -S recipe.
_base_ = './fpn_attentionvig_s_ade20k.py'

imagenet_checkpoint = 'checkpoints/attentionvig_b_in1k.pth'
model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint=imagenet_checkpoint)),
    neck=dict(in_channels=[64, 128, 256, 512]))
