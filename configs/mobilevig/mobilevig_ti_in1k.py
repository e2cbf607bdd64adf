# MobileViG-Ti, ImageNet-1k: the -S recipe.
_base_ = './mobilevig_s_in1k.py'

model = dict(backbone=dict(arch='ti'))
