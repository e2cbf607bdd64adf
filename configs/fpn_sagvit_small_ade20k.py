# Semantic FPN with SAG-ViT small on ADE20K, the recipe of the AttentionViG
# configs: 40k iterations, total batch 32 (8 GPUs x 4), AdamW lr 2e-4, weight
# decay 1e-4, poly decay power 0.9, 512x512 crops, 150 classes.
#   tools/dist_train.sh configs/fpn_sagvit_small_ade20k.py 8
# On fewer GPUs add --auto-scale-lr (the lr scales from a total batch of 32).
# The recipe: configs/_base_/fpn_ade20k_40k_adamw.py.
# BatchNorm statistics of the trunk frozen (norm_eval=True), as in the
# AttentionViG configs; see mask_rcnn_sagvit_small_coco.py.
_base_ = './_base_/fpn_ade20k_40k_adamw.py'

# ImageNet checkpoint of configs/sagvit_small_in1k.py.
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
