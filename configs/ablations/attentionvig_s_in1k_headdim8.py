# Ablation (paper Table 6): as attentionvig_s_in1k.py, with 8 channels per
# head on every stage (-S: 6, 12, 24, 48 heads) instead of 8 heads.
_base_ = '../attentionvig_s_in1k.py'

model = dict(backbone=dict(aggregator=dict(type='CrossAttention', head_dim=8)))
