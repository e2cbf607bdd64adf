# Semantic FPN with GreedyViG-S on ADE20K, the authors' recipe
# (SLDGroup/GreedyViG, mmseg 0.x:
# segmentation/configs/sem_fpn/fpn_greedyvig_s_ade20k_40k.py): 40k
# iterations, total batch 32 (8 GPUs x 4), AdamW lr 2e-4, weight decay 1e-4,
# poly decay power 0.9, 512x512 crops, 150 classes.
#   tools/dist_train.sh configs/greedyvig/fpn_greedyvig_s_ade20k.py 8
#
# BatchNorm: SyncBN with training statistics, as the authors' backbone
# trains (see mask_rcnn_greedyvig_s_coco.py). Evaluation resizes as theirs
# does: the short side to 512 (long side at most 2048), then each side
# stretched to a multiple of 32 (AlignResize; mmseg's ADE20K test pipeline
# resizes without the alignment).
_base_ = '../_base_/fpn_ade20k_40k_adamw.py'

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

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='AlignResize', scale=(2048, 512), size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
