# Mask R-CNN + FPN with MobileViG-M on COCO 2017, the authors' 1x recipe
# (SLDGroup/MobileViG detection/configs/mask_rcnn_mobilevig_m_fpn_1x_coco.py,
# mmdet 2.28), which is GreedyViG's: 12 epochs, total batch 16, AdamW lr 2e-4,
# weight decay 0.05 on every parameter, 1333x800, and the same BatchNorm
# handling (their backbone converts to SyncBatchNorm before its train()
# looks for nn.BatchNorm2d: SyncBN, norm_eval=False).
#   tools/dist_train.sh configs/mobilevig/mask_rcnn_mobilevig_m_coco.py 8
# The backbone starts from the converted ImageNet checkpoint (their
# MobileViG_M_80_7.pth.tar, its EMA weights when present).
_base_ = '../greedyvig/mask_rcnn_greedyvig_s_coco.py'

model = dict(
    backbone=dict(
        type='MobileViG',
        arch='m',
        init_cfg=dict(checkpoint='checkpoints/mobilevig_m_in1k.pth')),
    neck=dict(in_channels=[42, 84, 224, 400]))
