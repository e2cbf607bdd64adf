# Ablation (paper Table 9): as fpn_attentionvig_s_ade20k.py, but beta keeps
# training on ADE20K.
_base_ = '../fpn_attentionvig_s_ade20k.py'

custom_hooks = [dict(type='DivergenceHook')]  # beta trains
