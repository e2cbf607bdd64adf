# GreedyViG-B, ImageNet-1k: the -S recipe (stochastic depth 0.1 for every
# size, as the authors' GreedyViG_B).
_base_ = './greedyvig_s_in1k.py'

model = dict(backbone=dict(arch='b'), head=dict(in_channels=512))
