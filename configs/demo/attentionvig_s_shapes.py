# AttentionViG-S on mmvig's synthetic shapes (6 classes, 96x96 images): the
# README's main job, sized to train in a few minutes on a 2-core CPU.
# Generate the data with:
#   python tools/misc/make_synthetic_data.py classification data/shapes
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['mmvig'], allow_failed_imports=False)

data_root = 'data/shapes'
num_classes = 6

model = dict(
    type='DistillationClassifier',
    data_preprocessor=dict(
        num_classes=num_classes,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    # Layer scale starts at 1 (paper: 1e-5): with 1e-5, a few hundred steps
    # leave every residual branch nearly closed.
    backbone=dict(
        type='AttentionViG',
        arch='s',
        out_indices=(3, ),
        layer_scale_init_value=1.0),
    neck=None,
    head=dict(
        type='AttentionViGClsHead',
        num_classes=num_classes,
        in_channels=384,
        loss=dict(type='CrossEntropyLoss')),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={'.log_beta': dict(decay_mult=0.0)}),
)
max_epochs = 6
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=40),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2),
)
# Every checkpoint is read by mmvig's safe loader (MMVigRunner).
runner_type = 'MMVigRunner'
randomness = dict(seed=0, deterministic=False)

# Stop at the first non-finite loss, before a checkpoint of NaN weights.
custom_hooks = [dict(type='DivergenceHook')]
