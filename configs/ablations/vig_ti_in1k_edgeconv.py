# The paper's Table 3, EdgeConv row (top-1 74.3, 2.4 GFLOPs): as
# vig_ti_in1k_maxrelative.py (vanilla ViG-Ti, mmpretrain's model and ViG's
# recipe), with mmpretrain's EdgeConv graph conv.
_base_ = './vig_ti_in1k_maxrelative.py'

model = dict(backbone=dict(graph_conv_type='edge'))
