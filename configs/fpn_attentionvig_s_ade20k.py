# Semantic FPN with AttentionViG-S on ADE20K, the AttentionViG
# paper's recipe: 40k iterations, total batch 32 (8 GPUs x 4), AdamW lr 2e-4,
# weight decay 1e-4, poly decay power 0.9, 512x512 crops, 150 classes,
# beta frozen.
#   tools/dist_train.sh configs/fpn_attentionvig_s_ade20k.py 8
# On fewer GPUs add --auto-scale-lr (the lr scales from a total batch of 32).
# The recipe (and where its numbers come from):
# configs/_base_/fpn_ade20k_40k_adamw.py.
#
# BatchNorm statistics frozen (norm_eval=True; affine weights train): the
# paper's "analogous to freezing batch normalization layers ... during
# downstream fine-tuning", and GreedyViG's segmentation backbone, whose
# train() puts every BatchNorm2d in eval mode (see the note in
# mask_rcnn_attentionvig_s_coco.py on its SyncBatchNorm conversion).
# model.backbone.norm_eval=False trains the statistics. The backbone starts
# from the EMA weights of the ImageNet checkpoint when it holds them.
#
# SVGA graph: the paper's stride 2 on every stage, no cap on shifts.
_base_ = './_base_/fpn_ade20k_40k_adamw.py'

# ImageNet checkpoint of configs/attentionvig_s_in1k.py.
imagenet_checkpoint = 'checkpoints/attentionvig_s_in1k.pth'

model = dict(
    backbone=dict(
        _delete_=True,
        type='AttentionViG',
        arch='s',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        graph_strides=2,
        max_shifts=None,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=imagenet_checkpoint,
            prefix='backbone.')),
    neck=dict(in_channels=[48, 96, 192, 384]))

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'.log_beta': dict(decay_mult=0.0)}))

# The paper keeps the temperatures learned on ImageNet fixed.
custom_hooks = [dict(type='FreezeBetaHook'), dict(type='DivergenceHook')]
