# AttentionViG-S, ImageNet-1k: the paper's recipe (DESIGN.md section 3).
# 300 epochs, AdamW lr 2e-3 at total batch 2048 (8 GPUs x 256; mmengine scales the
# lr for other totals with --auto-scale-lr), cosine with 5 warmup epochs,
# DeiT augmentation (RandAugment, random erasing, Mixup/CutMix, label smoothing)
# and hard distillation from RegNetY-16GF.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmvig'], allow_failed_imports=False)

model = dict(
    type='DistillationClassifier',
    backbone=dict(
        type='AttentionViG', arch='s', out_indices=(3, ), drop_path_rate=0.1),
    neck=None,
    head=dict(
        type='AttentionViGClsHead',
        num_classes=1000,
        in_channels=384,
        hidden_channels=768,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    # DeiT's teacher through timm (downloaded from the timm hub at build time).
    # Offline, add pretrained_cfg_overlay=dict(file='path/to/regnety_160.bin').
    # teacher=None trains without distillation.
    teacher=dict(
        type='TimmClassifier',
        model_name='regnety_160.deit_in1k',
        pretrained=True),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]),
)

train_dataloader = dict(batch_size=256)
val_dataloader = dict(batch_size=256)

optim_wrapper = dict(
    optimizer=dict(lr=2e-3),
    paramwise_cfg=dict(custom_keys={'.log_beta': dict(decay_mult=0.0)}),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5),
]
auto_scale_lr = dict(base_batch_size=2048)
