# Mask R-CNN + FPN with AttentionViG-S on COCO 2017, the paper's 1x recipe
# (AttentionViG paper): 12 epochs, lr x0.1 at epochs 8 and 11, total batch 16
# (8 GPUs x 2), AdamW lr 2e-4, weight decay 0.05, 1333x800, beta frozen.
#   tools/dist_train.sh configs/mask_rcnn_attentionvig_s_coco.py 8
# On fewer GPUs add --auto-scale-lr (the lr scales from a total batch of 16).
# The recipe: configs/_base_/mask_rcnn_coco_1x_adamw.py.
#
# BatchNorm statistics frozen (norm_eval=True; affine weights train). The
# paper calls freezing beta "analogous to freezing batch normalization layers
# in backbones during downstream fine-tuning, a common and effective
# practice"; the authors' GreedyViG detection backbone overrides train() to
# put every BatchNorm2d in eval mode; mmdet's ResNet Mask R-CNN does the same.
# (GreedyViG converts its layers to SyncBatchNorm, which is not a
# BatchNorm2d subclass, before that check: in multi-GPU runs of that code the
# check may have matched nothing. The paper's text is the clearer evidence.
# model.backbone.norm_eval=False trains the statistics.)
# Backbone starts from the EMA weights of the ImageNet checkpoint when it
# holds them (GreedyViG loads state_dict_ema); the log names what it loaded.
# No stage is frozen (frozen_stages=-1), as in GreedyViG.
#
# SVGA graph: the paper's stride 2 on every stage, no cap on shifts (a
# stage-1 node at 1333x800 has about 265 neighbours). Set the backbone's
# max_shifts to bound the cost per pixel. The aggregation runs as mmvig's
# fused operator (Triton on GPUs), whose memory does not grow with the
# neighbours. Stages 1-2, whose 1333x800 activations dominate the memory, are
# checkpointed (with_cp): see benchmarks/train_step.py for what that costs
# and saves; with_cp=False trains faster where memory allows.
_base_ = './_base_/mask_rcnn_coco_1x_adamw.py'

# ImageNet checkpoint of configs/attentionvig_s_in1k.py (an mmvig classifier;
# its backbone weights sit under 'backbone.').
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
        with_cp=(True, True, False, False),
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
