# MobileViG-S, ImageNet-1k: the authors' model (SLDGroup/MobileViG,
# CVPR Workshops 2023). Their main.py has GreedyViG's argument defaults, the
# recipe of ../attentionvig_s_in1k.py: 300 epochs, AdamW, DeiT augmentation
# and hard distillation from RegNetY-16GF, EMA, validation crop ratio 0.9.
#
# The authors' released weights, converted (configs/mobilevig/README.md):
#   python tools/model_converters/lineage_to_mmvig.py \
#       configs/mobilevig/mobilevig_s_in1k.py MobileViG_S_78_2.pth.tar \
#       checkpoints/mobilevig_s_in1k.pth
_base_ = '../attentionvig_s_in1k.py'

model = dict(
    backbone=dict(type='MobileViG', arch='s'),
    head=dict(in_channels=256, hidden_channels=512))
