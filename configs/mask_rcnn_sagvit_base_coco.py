# Mask R-CNN + FPN with SAG-ViT base on COCO 2017: the recipe of
# mask_rcnn_sagvit_small_coco.py with the base arch.
#   tools/dist_train.sh configs/mask_rcnn_sagvit_base_coco.py 8
_base_ = './mask_rcnn_sagvit_small_coco.py'

model = _base_.sagvit_base
