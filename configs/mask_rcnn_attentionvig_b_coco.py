# Mask R-CNN + FPN with AttentionViG-B on COCO 2017: the -S recipe.
_base_ = './mask_rcnn_attentionvig_s_coco.py'

model = dict(
    _base_.attentionvig_b,
    # -B's 15 stage-3 blocks hold as much memory as stages 1-2 at
    # 1333x800: checkpoint every stage.
    backbone=dict(_base_.attentionvig_b.backbone, with_cp=True))
