# AttentionViG-S, ImageNet-1k.
#
# The AttentionViG paper's numbers: 300 epochs, AdamW, lr 2e-3 at
# total batch 2048 (8 GPUs x 256; --auto-scale-lr rescales it for other
# totals), cosine decay, DeiT augmentation (RandAugment, random erasing,
# Mixup 0.8 / CutMix 1.0, label smoothing 0.1) and hard distillation from
# RegNetY-16GF.
#
# Where the paper is silent, the recipe of the authors' GreedyViG main.py
# (github SLDGroup/GreedyViG, argument defaults):
# - an EMA of the weights, decay 0.99996 per iteration, buffers averaged too
#   (timm's ModelEma): mmengine's EMAHook, momentum 1 - 0.99996. Checkpoints
#   then carry both sets of weights; the downstream configs load the EMA ones,
#   as GreedyViG's detection and segmentation backbones do (state_dict_ema);
# - 20 warmup epochs from lr 1e-6, then cosine down to a minimum lr of 1e-5;
# - repeated augmentation (DeiT's RASampler, 3 repeats): mmpretrain's
#   RepeatAugSampler;
# - validation crop ratio 0.9 (resize the short side to 248, crop 224);
# - SyncBN across GPUs; mixed precision (AMP);
# - no weight decay on biases, norm weights, layer scales and temperatures
#   (timm's optimizer factory skips every 1-D parameter);
# - stochastic depth 0.1 for every size.
#
# The one real ambiguity: GreedyViG's main.py multiplies its --lr (default
# 2e-3) by total batch / 1024, so a run at total batch 2048 trains at 4e-3.
# If the paper's "2e-3 at 2048" is that --lr argument, the authors' optimizer
# saw 4e-3; if it is the lr after scaling, 2e-3. This config takes the
# paper's number as the lr at 2048; for the other reading add
#   --cfg-options optim_wrapper.optimizer.lr=4e-3
# (Validation during training and tools/test.py see the EMA weights, which
# mmengine's EMAHook puts in a checkpoint's state_dict; GreedyViG evaluated
# the trained weights. tools/test.py --weights raw evaluates those.)
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
    './_base_/mmvig_runtime.py',
]

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

# Validation crop ratio 0.9: short side 224 / 0.9 = 248, then a 224 crop.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=248,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=256,
    sampler=dict(
        _delete_=True, type='RepeatAugSampler', num_repeats=3, shuffle=True))
val_dataloader = dict(batch_size=256, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

lr = 2e-3
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(lr=lr),
    paramwise_cfg=dict(custom_keys={
        '.layer_scale': dict(decay_mult=0.0),
        '.log_beta': dict(decay_mult=0.0),
    }),
)
warmup_epochs = 20
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / lr,
        by_epoch=True,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=warmup_epochs,
        convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=2048)

# See _base_/mmvig_runtime.py.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
custom_hooks = _base_.custom_hooks + [
    dict(
        type='EMAHook',
        momentum=1 - 0.99996,
        update_buffers=True,
        priority='ABOVE_NORMAL'),
]
sync_bn = 'torch'
