# Mask R-CNN + FPN with SAG-ViT base on COCO 2017: the recipe of
# mask_rcnn_sagvit_small_coco.py with the base arch.
#   tools/dist_train.sh configs/mask_rcnn_sagvit_base_coco.py 8
_base_ = './mask_rcnn_sagvit_small_coco.py'

imagenet_checkpoint = 'checkpoints/sagvit_base_in1k.pth'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint=imagenet_checkpoint)),
    neck=dict(in_channels=[48, 64, 384, 384]))
