# AdaptViG-M, ImageNet-1k: the -S recipe (stochastic depth 0.1 for every
# size, as the authors' AdaptViG_M).
_base_ = './adaptvig_s_in1k.py'

model = dict(backbone=dict(arch='m'), head=dict(in_channels=320))
