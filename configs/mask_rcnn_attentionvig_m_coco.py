# Mask R-CNN + FPN with AttentionViG-M on COCO 2017: the -S recipe.
_base_ = './mask_rcnn_attentionvig_s_coco.py'

imagenet_checkpoint = 'checkpoints/attentionvig_m_in1k.pth'
model = dict(
    backbone=dict(arch='m', init_cfg=dict(checkpoint=imagenet_checkpoint)),
    neck=dict(in_channels=[56, 112, 224, 448]))
