# Semantic FPN with SAG-ViT small on ADE20K, the recipe of the AttentionViG
# configs: 40k iterations, total batch 32 (8 GPUs x 4), AdamW lr 2e-4, weight
# decay 1e-4, poly decay power 0.9, 512x512 crops, 150 classes.
#   tools/dist_train.sh configs/fpn_sagvit_small_ade20k.py 8
# On fewer GPUs add --auto-scale-lr (the lr scales from a total batch of 32).
# BatchNorm statistics of the trunk frozen (norm_eval=True), as in the
# AttentionViG configs; see mask_rcnn_sagvit_small_coco.py.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
]
custom_imports = dict(imports=['mmvig'], allow_failed_imports=False)

# ImageNet checkpoint of configs/sagvit_small_in1k.py.
imagenet_checkpoint = 'checkpoints/sagvit_small_in1k.pth'

crop_size = (512, 512)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True,
        type='SAGViT',
        arch='small',
        patch_size=2,
        k=1,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.1,
                      requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=imagenet_checkpoint,
            prefix='backbone.')),
    neck=dict(in_channels=[32, 48, 256, 256]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999),
                   weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'.cls_token': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=40000,
         by_epoch=False)
]

auto_scale_lr = dict(enable=False, base_batch_size=32)

# Stop at the first non-finite loss, before a checkpoint of NaN weights.
custom_hooks = [dict(type='DivergenceHook')]
