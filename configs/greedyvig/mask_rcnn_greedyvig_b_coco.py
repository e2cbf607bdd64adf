# Mask R-CNN + FPN with GreedyViG-B on COCO 2017: the -S recipe (the
# authors' mask_rcnn_greedyvig_b_fpn_1x_coco.py differs only in the model).
_base_ = './mask_rcnn_greedyvig_s_coco.py'

model = dict(
    backbone=dict(
        arch='b',
        init_cfg=dict(checkpoint='checkpoints/greedyvig_b_in1k.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
