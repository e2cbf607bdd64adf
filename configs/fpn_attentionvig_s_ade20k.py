# Semantic FPN with AttentionViG-S on ADE20K, the AttentionViG
# paper's recipe: 40k iterations, total batch 32 (8 GPUs x 4), AdamW lr 2e-4,
# weight decay 1e-4, poly decay power 0.9, 512x512 crops, 150 classes,
# beta frozen.
#   tools/dist_train.sh configs/fpn_attentionvig_s_ade20k.py 8
# On fewer GPUs add --auto-scale-lr (the lr scales from a total batch of 32).
# The recipe (and where its numbers come from):
# configs/_base_/fpn_ade20k_40k_adamw.py; the backbone (and why its BatchNorm
# statistics are frozen): configs/_base_/attentionvig_dense.py.
_base_ = [
    './_base_/fpn_ade20k_40k_adamw.py',
    './_base_/attentionvig_dense.py',
]

model = _base_.attentionvig_s
optim_wrapper = dict(paramwise_cfg=_base_.attentionvig_paramwise)
custom_hooks = [dict(type='FreezeBetaHook')] + _base_.custom_hooks
