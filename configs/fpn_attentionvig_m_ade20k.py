# Semantic FPN with AttentionViG-M on ADE20K: the -S recipe.
_base_ = './fpn_attentionvig_s_ade20k.py'

model = _base_.attentionvig_m
