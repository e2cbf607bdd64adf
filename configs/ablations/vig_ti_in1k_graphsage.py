# The paper's Table 3, GraphSAGE row (top-1 74.0, 1.6 GFLOPs): as
# vig_ti_in1k_maxrelative.py (vanilla ViG-Ti, mmpretrain's model and ViG's
# recipe), with mmpretrain's GraphSAGE graph conv.
_base_ = './vig_ti_in1k_maxrelative.py'

model = dict(backbone=dict(graph_conv_type='sage'))
