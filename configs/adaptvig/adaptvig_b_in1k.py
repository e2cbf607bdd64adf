# AdaptViG-B, ImageNet-1k: the -S recipe.
_base_ = './adaptvig_s_in1k.py'

model = dict(backbone=dict(arch='b'), head=dict(in_channels=384))
