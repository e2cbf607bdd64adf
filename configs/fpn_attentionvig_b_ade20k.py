# Semantic FPN with AttentionViG-B on ADE20K: the -S recipe.
_base_ = './fpn_attentionvig_s_ade20k.py'

model = _base_.attentionvig_b
