# Our own experiment, not in the paper (its Table 3 compares aggregations
# inside vanilla ViG-Ti: configs/ablations/vig_ti_in1k_*.py): as
# attentionvig_s_in1k.py with GraphSAGE aggregation over the same SVGA
# neighbours instead of cross-attention. No temperatures: the weight-decay
# key for log_beta matches nothing.
_base_ = '../attentionvig_s_in1k.py'

model = dict(backbone=dict(aggregator=dict(type='GraphSAGE')))
