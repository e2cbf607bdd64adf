# AdaptViG-S, ImageNet-1k: the authors' model (mmunir127/AdaptViG, WACV 2026)
# with their recipe, GreedyViG's (their main.py is GreedyViG's with the model
# renamed): ../greedyvig/greedyvig_s_in1k.py, 300 epochs, AdamW, DeiT
# augmentation and hard distillation from RegNetY-16GF, EMA, stochastic
# depth 0.1, validation crop ratio 0.9.
#
# The authors' released weights, converted (configs/adaptvig/README.md):
#   python tools/model_converters/lineage_to_mmvig.py \
#       configs/adaptvig/adaptvig_s_in1k.py ADAPTVIG_S.pth \
#       checkpoints/adaptvig_s_in1k.pth
#   python tools/test.py configs/adaptvig/adaptvig_s_in1k.py \
#       checkpoints/adaptvig_s_in1k.pth
_base_ = '../greedyvig/greedyvig_s_in1k.py'

model = dict(
    backbone=dict(type='AdaptViG', arch='s'), head=dict(in_channels=256))
