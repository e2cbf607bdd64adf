# Semantic FPN with AttentionViG-B on ADE20K: the -S recipe (stochastic depth
# 0.1 as well: GreedyViG's B segmentation backbone uses 0.1).
_base_ = './fpn_attentionvig_s_ade20k.py'

imagenet_checkpoint = 'checkpoints/attentionvig_b_in1k.pth'
model = dict(
    backbone=dict(arch='b', init_cfg=dict(checkpoint=imagenet_checkpoint)),
    neck=dict(in_channels=[64, 128, 256, 512]))
