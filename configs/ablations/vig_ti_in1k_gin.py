# The paper's Table 3, GIN row (top-1 72.8, 1.3 GFLOPs): as
# vig_ti_in1k_maxrelative.py (vanilla ViG-Ti, mmpretrain's model and ViG's
# recipe), with mmpretrain's GIN graph conv.
_base_ = './vig_ti_in1k_maxrelative.py'

model = dict(backbone=dict(graph_conv_type='gin'))
