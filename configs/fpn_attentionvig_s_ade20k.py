# Semantic FPN with AttentionViG-S on ADE20K, the AttentionViG
# paper's recipe: 40k iterations, total batch 32 (8 GPUs x 4), AdamW lr 2e-4,
# weight decay 1e-4, poly decay power 0.9, 512x512 crops, 150 classes,
# beta frozen.
#   tools/dist_train.sh configs/fpn_attentionvig_s_ade20k.py 8
# On fewer GPUs add --auto-scale-lr (the lr scales from a total batch of 32).
#
# The optimizer, schedule and lr are those of the authors' GreedyViG Semantic
# FPN configs (github SLDGroup/GreedyViG, segmentation/configs/sem_fpn: AdamW
# 1e-4 x 2, wd 1e-4, poly 0.9, 40k iterations on 8 GPUs).
# BatchNorm statistics frozen (norm_eval=True; affine weights train): the
# paper's "analogous to freezing batch normalization layers ... during
# downstream fine-tuning", and GreedyViG's segmentation backbone, whose
# train() puts every BatchNorm2d in eval mode (see the note in
# mask_rcnn_attentionvig_s_coco.py on its SyncBatchNorm conversion).
# model.backbone.norm_eval=False trains the statistics. The backbone starts
# from the EMA weights of the ImageNet checkpoint when it holds them.
#
# SVGA graph: the paper's stride 2 on every stage, no cap on shifts.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
]
custom_imports = dict(imports=['mmvig'], allow_failed_imports=False)

# ImageNet checkpoint of configs/attentionvig_s_in1k.py.
imagenet_checkpoint = 'checkpoints/attentionvig_s_in1k.pth'

crop_size = (512, 512)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True,
        type='AttentionViG',
        arch='s',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        graph_strides=2,
        max_shifts=None,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=imagenet_checkpoint,
            prefix='backbone.')),
    neck=dict(in_channels=[48, 96, 192, 384]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999),
                   weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'.log_beta': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=40000,
         by_epoch=False)
]

custom_hooks = [dict(type='FreezeBetaHook'), dict(type='DivergenceHook')]

auto_scale_lr = dict(enable=False, base_batch_size=32)
