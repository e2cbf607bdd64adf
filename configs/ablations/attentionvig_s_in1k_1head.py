# Ablation (paper Table 6, "no heads"): as attentionvig_s_in1k.py, with one
# attention head per Grapher (the cosine over all C channels).
_base_ = '../attentionvig_s_in1k.py'

model = dict(
    backbone=dict(aggregator=dict(type='CrossAttention', num_heads=1)))
