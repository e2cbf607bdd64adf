# SAG-ViT base (EfficientNetV2-S trunk, width 384), ImageNet-1k: the recipe of
# sagvit_small_in1k.py with the base arch and more stochastic depth.
#   tools/dist_train.sh configs/sagvit_base_in1k.py 8
_base_ = './sagvit_small_in1k.py'

embed_dims = 384
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.2),
    head=dict(in_channels=embed_dims, mid_channels=[embed_dims]))
