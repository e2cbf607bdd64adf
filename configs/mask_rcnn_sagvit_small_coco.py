# Mask R-CNN + FPN with SAG-ViT small on COCO 2017, the 1x recipe of the
# AttentionViG configs: 12 epochs, lr x0.1 at epochs 8 and 11, total batch 16
# (8 GPUs x 2), AdamW lr 2e-4, weight decay 0.05, 1333x800.
#   tools/dist_train.sh configs/mask_rcnn_sagvit_small_coco.py 8
# On fewer GPUs add --auto-scale-lr (the lr scales from a total batch of 16).
# The recipe: configs/_base_/mask_rcnn_coco_1x_adamw.py; the backbone (and
# why its trunk's BatchNorm statistics are frozen):
# configs/_base_/sagvit_dense.py.
_base_ = [
    './_base_/mask_rcnn_coco_1x_adamw.py',
    './_base_/sagvit_dense.py',
]

model = _base_.sagvit_small
optim_wrapper = dict(paramwise_cfg=_base_.sagvit_paramwise)
