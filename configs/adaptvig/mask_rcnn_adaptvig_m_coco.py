# Mask R-CNN + FPN with AdaptViG-M on COCO 2017, the authors' 1x recipe
# (mmunir127/AdaptViG detection/configs/mask_rcnn_adaptvig_m_fpn_1x_coco.py,
# mmdet 2.28), GreedyViG's but for the weight decay: 12 epochs, lr x0.1 at
# epochs 8 and 11, 2 images per GPU, AdamW lr 2e-4, weight decay 1e-4 on
# every parameter (-B: 0.05), 1333x800, and the same BatchNorm handling
# (their backbone converts to SyncBatchNorm before its train() looks for
# nn.BatchNorm2d: SyncBN, norm_eval=False).
#   tools/dist_train.sh configs/adaptvig/mask_rcnn_adaptvig_m_coco.py 8
# The backbone starts from the converted ImageNet checkpoint (its EMA
# weights when present); the authors' released COCO checkpoint converts
# with this config.
_base_ = '../greedyvig/mask_rcnn_greedyvig_s_coco.py'

model = dict(
    backbone=dict(
        type='AdaptViG',
        arch='m',
        init_cfg=dict(checkpoint='checkpoints/adaptvig_m_in1k.pth')),
    neck=dict(in_channels=[48, 96, 192, 320]))
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
