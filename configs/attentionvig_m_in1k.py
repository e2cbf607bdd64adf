# AttentionViG-M, ImageNet-1k: same recipe as -S.
_base_ = './attentionvig_s_in1k.py'

model = dict(
    backbone=dict(arch='m', drop_path_rate=0.1),
    head=dict(in_channels=448))
