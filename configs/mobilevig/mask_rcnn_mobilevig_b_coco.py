# Mask R-CNN + FPN with MobileViG-B on COCO 2017: the -M recipe but for the
# weight decay, 1e-4 in the authors' mask_rcnn_mobilevig_b_fpn_1x_coco.py
# (0.05 for -M).
_base_ = './mask_rcnn_mobilevig_m_coco.py'

model = dict(
    backbone=dict(
        arch='b',
        init_cfg=dict(checkpoint='checkpoints/mobilevig_b_in1k.pth')),
    neck=dict(in_channels=[42, 84, 240, 464]))
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
