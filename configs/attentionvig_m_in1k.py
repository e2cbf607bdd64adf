# AttentionViG-M, ImageNet-1k: the -S recipe (stochastic depth 0.1, as for
# every GreedyViG size).
_base_ = './attentionvig_s_in1k.py'

model = dict(backbone=dict(arch='m'), head=dict(in_channels=448))
