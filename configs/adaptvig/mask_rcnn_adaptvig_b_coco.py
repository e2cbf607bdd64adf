# Mask R-CNN + FPN with AdaptViG-B on COCO 2017: the -M recipe with the
# weight decay of the authors' mask_rcnn_adaptvig_b_fpn_1x_coco.py, 0.05.
_base_ = './mask_rcnn_adaptvig_m_coco.py'

model = dict(
    backbone=dict(
        arch='b', init_cfg=dict(checkpoint='checkpoints/adaptvig_b_in1k.pth')),
    neck=dict(in_channels=[48, 96, 192, 384]))
optim_wrapper = dict(optimizer=dict(weight_decay=0.05))
