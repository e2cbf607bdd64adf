# AttentionViG-B, ImageNet-1k: the -S recipe (stochastic depth 0.1, as for
# every GreedyViG size, -B included).
_base_ = './attentionvig_s_in1k.py'

model = dict(backbone=dict(arch='b'), head=dict(in_channels=512))
