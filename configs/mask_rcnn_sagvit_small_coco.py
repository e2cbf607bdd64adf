# Mask R-CNN + FPN with SAG-ViT small on COCO 2017, the 1x recipe of the
# AttentionViG configs: 12 epochs, lr x0.1 at epochs 8 and 11, total batch 16
# (8 GPUs x 2), AdamW lr 2e-4, weight decay 0.05, 1333x800.
#   tools/dist_train.sh configs/mask_rcnn_sagvit_small_coco.py 8
# On fewer GPUs add --auto-scale-lr (the lr scales from a total batch of 16).
# The recipe: configs/_base_/mask_rcnn_coco_1x_adamw.py.
#
# BatchNorm statistics of the EfficientNetV2 trunk frozen (norm_eval=True),
# as in the AttentionViG configs: SAG-ViT has no published detection recipe,
# and one fine-tuning protocol for both backbones keeps them comparable
# (2 images per GPU give noisy batch statistics). The graph and Transformer
# layers use LayerNorm, which this does not touch.
#
# Levels: EfficientNetV2 maps at strides 4 and 8, the stride-16 map plus the
# upsampled graph/Transformer tokens, the token grid at stride 32 (a
# 1333x800 image gives 42x25 patch nodes).
_base_ = './_base_/mask_rcnn_coco_1x_adamw.py'

# ImageNet checkpoint of configs/sagvit_small_in1k.py (an mmpretrain
# classifier; its backbone weights sit under 'backbone.').
imagenet_checkpoint = 'checkpoints/sagvit_small_in1k.pth'

model = dict(
    backbone=dict(
        _delete_=True,
        type='SAGViT',
        arch='small',
        patch_size=2,
        k=1,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.1, requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=imagenet_checkpoint,
            prefix='backbone.')),
    neck=dict(in_channels=[32, 48, 256, 256]))

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'.cls_token': dict(decay_mult=0.0)}))
