# Semantic FPN with SAG-ViT base on ADE20K: the recipe of
# fpn_sagvit_small_ade20k.py with the base arch.
#   tools/dist_train.sh configs/fpn_sagvit_base_ade20k.py 8
_base_ = './fpn_sagvit_small_ade20k.py'

model = _base_.sagvit_base
