# Mask R-CNN + FPN with GreedyViG-S on COCO 2017, the authors' 1x recipe
# (SLDGroup/GreedyViG detection/configs/mask_rcnn_greedyvig_s_fpn_1x_coco.py,
# mmdet 2.28): 12 epochs, lr x0.1 at epochs 8 and 11, AdamW lr 2e-4, weight
# decay 0.05 on every parameter, 1333x800; total batch 16 (8 GPUs x 2), the
# PoolFormer / EfficientFormer setting the authors follow (their dataset
# base reads 1 image per GPU and leaves the GPU count to the command line;
# MobileViG's and AdaptViG's read 2).
#   tools/dist_train.sh configs/greedyvig/mask_rcnn_greedyvig_s_coco.py 8
#
# BatchNorm as the authors' backbone trains it: their GreedyViG converts every
# BatchNorm to SyncBatchNorm in its constructor; its train() then puts every
# nn.BatchNorm2d in eval mode, which a SyncBatchNorm is not, so the
# statistics train, synchronised across GPUs: SyncBN, norm_eval=False.
# The backbone starts from the EMA weights of the ImageNet checkpoint
# (theirs load state_dict_ema): convert S_GreedyViG_81_1.pth with
# configs/greedyvig/greedyvig_s_in1k.py first (README.md here). Their
# released COCO checkpoint converts with this config.
_base_ = '../_base_/mask_rcnn_coco_1x_adamw.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='GreedyViG',
        arch='s',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/greedyvig_s_in1k.pth',
            prefix='backbone.')),
    neck=dict(in_channels=[48, 96, 192, 384]))

# mmdet 2.28's optimizer without paramwise settings: norms decay too.
optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=1.0))
