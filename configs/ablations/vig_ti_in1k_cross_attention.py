# The paper's Table 3, Cross-Attention row (top-1 74.3, 1.6 GFLOPs): as
# vig_ti_in1k_maxrelative.py (vanilla ViG-Ti, mmpretrain's model and ViG's
# recipe), with AttentionViG's aggregation as the graph conv of every
# Grapher: cosine cross-attention over the kNN neighbours, 8 heads, no
# normalisation, learnable beta (initial 10; the paper does not give
# Table 3's head count or initial beta, these are AttentionViG's).
_base_ = './vig_ti_in1k_maxrelative.py'

model = dict(
    backbone=dict(type='CrossAttentionVig', graph_conv_type='cross_attention'))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'.log_beta': dict(decay_mult=0.0)}))
