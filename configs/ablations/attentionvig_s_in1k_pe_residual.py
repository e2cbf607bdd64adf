# Grapher choice: as attentionvig_s_in1k.py, with each Grapher's conditional
# positional encoding added to the residual stream (x = x + dwconv7x7(x)
# before the layer-scaled aggregation branch) instead of inside that branch
# (the layout of the authors' GreedyViG code, mmvig's default).
_base_ = '../attentionvig_s_in1k.py'

model = dict(backbone=dict(pos_embed_in_branch=False))
