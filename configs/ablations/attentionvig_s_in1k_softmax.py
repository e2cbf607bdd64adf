# Ablation (paper Tables 4 and 7): as attentionvig_s_in1k.py, with a softmax
# over each node's neighbours instead of the unnormalised exponential kernel.
_base_ = '../attentionvig_s_in1k.py'

model = dict(
    backbone=dict(aggregator=dict(type='CrossAttention', normalize='softmax')))
