# Aggregator comparison (the paper's baselines): as attentionvig_s_in1k.py,
# with EdgeConv aggregation over the same SVGA neighbours instead of
# cross-attention. No temperatures: the weight-decay key for log_beta
# matches nothing.
_base_ = '../attentionvig_s_in1k.py'

model = dict(backbone=dict(aggregator=dict(type='EdgeConv')))
