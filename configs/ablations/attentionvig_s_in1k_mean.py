# Ablation (paper Tables 4 and 7): as attentionvig_s_in1k.py, with the
# exponential kernel's weights divided by the number of neighbours (1/N).
_base_ = '../attentionvig_s_in1k.py'

model = dict(
    backbone=dict(aggregator=dict(type='CrossAttention', normalize='mean')))
