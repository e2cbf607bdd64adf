# Mask R-CNN + FPN with AttentionViG-B on COCO 2017: the -S recipe
# (stochastic depth 0.1 as well: GreedyViG's B detection backbone uses 0.1).
_base_ = './mask_rcnn_attentionvig_s_coco.py'

imagenet_checkpoint = 'checkpoints/attentionvig_b_in1k.pth'
model = dict(
    backbone=dict(
        arch='b',
        # -B's 15 stage-3 blocks hold as much memory as stages 1-2 at
        # 1333x800: checkpoint every stage.
        with_cp=True,
        init_cfg=dict(checkpoint=imagenet_checkpoint)),
    neck=dict(in_channels=[64, 128, 256, 512]))
