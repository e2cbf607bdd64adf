# Semantic FPN with SAG-ViT base on ADE20K: the recipe of
# fpn_sagvit_small_ade20k.py with the base arch.
#   tools/dist_train.sh configs/fpn_sagvit_base_ade20k.py 8
_base_ = './fpn_sagvit_small_ade20k.py'

imagenet_checkpoint = 'checkpoints/sagvit_base_in1k.pth'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint=imagenet_checkpoint)),
    neck=dict(in_channels=[48, 64, 384, 384]))
