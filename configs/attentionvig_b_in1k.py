# AttentionViG-B, ImageNet-1k: same recipe as -S.
_base_ = './attentionvig_s_in1k.py'

model = dict(
    backbone=dict(arch='b', drop_path_rate=0.2),
    head=dict(in_channels=512))
