# Ablation (paper Table 6): as attentionvig_s_in1k.py, with 6 channels per
# head on every stage (-S: 8, 16, 32, 64 heads) instead of 8 heads.
_base_ = '../attentionvig_s_in1k.py'

model = dict(backbone=dict(aggregator=dict(type='CrossAttention', head_dim=6)))
