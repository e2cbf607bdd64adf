# Semantic FPN with AdaptViG-M on ADE20K, the authors' recipe
# (mmunir127/AdaptViG, mmseg 0.x:
# segmentation/configs/sem_fpn/fpn_adaptvig_m_ade20k_40k.py), GreedyViG's:
# 40k iterations, total batch 32 (8 GPUs x 4), AdamW lr 2e-4, weight decay
# 1e-4, poly decay power 0.9, 512x512 crops; SyncBN
# with training statistics; AlignResize at evaluation.
#   tools/dist_train.sh configs/adaptvig/fpn_adaptvig_m_ade20k.py 8
_base_ = '../greedyvig/fpn_greedyvig_s_ade20k.py'

model = dict(
    backbone=dict(
        type='AdaptViG',
        arch='m',
        init_cfg=dict(checkpoint='checkpoints/adaptvig_m_in1k.pth')),
    neck=dict(in_channels=[48, 96, 192, 320]))
