# Semantic FPN with AdaptViG-B on ADE20K: the -M recipe (the authors'
# fpn_adaptvig_b_ade20k_40k.py differs only in the model).
_base_ = './fpn_adaptvig_m_ade20k.py'

model = dict(
    backbone=dict(
        arch='b', init_cfg=dict(checkpoint='checkpoints/adaptvig_b_in1k.pth')),
    neck=dict(in_channels=[48, 96, 192, 384]))
