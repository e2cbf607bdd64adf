# Semantic FPN with SAG-ViT small on ADE20K, the recipe of the AttentionViG
# configs: 40k iterations, total batch 32 (8 GPUs x 4), AdamW lr 2e-4, weight
# decay 1e-4, poly decay power 0.9, 512x512 crops, 150 classes.
#   tools/dist_train.sh configs/fpn_sagvit_small_ade20k.py 8
# On fewer GPUs add --auto-scale-lr (the lr scales from a total batch of 32).
# The recipe: configs/_base_/fpn_ade20k_40k_adamw.py; the backbone:
# configs/_base_/sagvit_dense.py.
_base_ = [
    './_base_/fpn_ade20k_40k_adamw.py',
    './_base_/sagvit_dense.py',
]

model = _base_.sagvit_small
optim_wrapper = dict(paramwise_cfg=_base_.sagvit_paramwise)
