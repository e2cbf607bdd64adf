# Mask R-CNN + FPN with AttentionViG-S on COCO 2017, the paper's 1x recipe
# (AttentionViG paper): 12 epochs, lr x0.1 at epochs 8 and 11, total batch 16
# (8 GPUs x 2), AdamW lr 2e-4, weight decay 0.05, 1333x800, beta frozen.
#   tools/dist_train.sh configs/mask_rcnn_attentionvig_s_coco.py 8
# On fewer GPUs add --auto-scale-lr (the lr scales from a total batch of 16).
# The recipe: configs/_base_/mask_rcnn_coco_1x_adamw.py; the backbone (and
# why its BatchNorm statistics are frozen):
# configs/_base_/attentionvig_dense.py.
#
# The aggregation runs as mmvig's fused operator (Triton on GPUs), whose
# memory does not grow with the neighbours. Stages 1-2, whose 1333x800
# activations dominate the memory, are checkpointed (with_cp): see
# benchmarks/train_step.py for what that costs and saves; with_cp=False
# trains faster where memory allows.
_base_ = [
    './_base_/mask_rcnn_coco_1x_adamw.py',
    './_base_/attentionvig_dense.py',
]

model = dict(
    _base_.attentionvig_s,
    backbone=dict(
        _base_.attentionvig_s.backbone, with_cp=(True, True, False, False)))
optim_wrapper = dict(paramwise_cfg=_base_.attentionvig_paramwise)
custom_hooks = [dict(type='FreezeBetaHook')] + _base_.custom_hooks
