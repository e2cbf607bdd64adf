# Mask R-CNN + FPN with AttentionViG-M on COCO 2017: the -S recipe.
_base_ = './mask_rcnn_attentionvig_s_coco.py'

model = _base_.attentionvig_m
