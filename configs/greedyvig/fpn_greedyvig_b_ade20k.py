# Semantic FPN with GreedyViG-B on ADE20K: the -S recipe (the authors'
# fpn_greedyvig_b_ade20k_40k.py differs only in the model).
_base_ = './fpn_greedyvig_s_ade20k.py'

model = dict(
    backbone=dict(
        arch='b',
        init_cfg=dict(checkpoint='checkpoints/greedyvig_b_in1k.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
