# GreedyViG-S, ImageNet-1k: the authors' model (SLDGroup/GreedyViG,
# CVPR 2024) with their recipe, which is the AttentionViG recipe of
# ../attentionvig_s_in1k.py (taken from GreedyViG's main.py where the
# AttentionViG paper is silent): 300 epochs, AdamW, DeiT augmentation and
# hard distillation from RegNetY-16GF, EMA, validation crop ratio 0.9.
#
# The authors' released weights, converted (configs/greedyvig/README.md):
#   python tools/model_converters/lineage_to_mmvig.py \
#       configs/greedyvig/greedyvig_s_in1k.py S_GreedyViG_81_1.pth \
#       checkpoints/greedyvig_s_in1k.pth
#   python tools/test.py configs/greedyvig/greedyvig_s_in1k.py \
#       checkpoints/greedyvig_s_in1k.pth
_base_ = '../attentionvig_s_in1k.py'

model = dict(backbone=dict(type='GreedyViG'))
