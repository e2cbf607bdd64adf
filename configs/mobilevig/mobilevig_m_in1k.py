# MobileViG-M, ImageNet-1k: the -S recipe, heads 768 wide.
_base_ = './mobilevig_s_in1k.py'

model = dict(
    backbone=dict(arch='m'), head=dict(in_channels=400, hidden_channels=768))
