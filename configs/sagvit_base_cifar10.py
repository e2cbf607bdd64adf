# SAG-ViT base on CIFAR-10, the paper's headline data set: the EfficientNetV2-S
# trunk starts from an mmpretrain ImageNet checkpoint (as in the paper), the
# 32x32 images are upsampled to 224, and the evaluator reports top-1 with
# macro precision, recall and F1 (the paper's metric).
#   tools/dist_train.sh configs/sagvit_base_cifar10.py 1
# Set trunk_checkpoint to an mmpretrain EfficientNetV2-S classifier
# checkpoint (keys under 'backbone.'); a missing key stops the run with the
# list of keys.
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
    './_base_/mmvig_runtime.py',
]

trunk_checkpoint = 'checkpoints/efficientnetv2-s_in1k.pth'
embed_dims = 384
image_size = 224

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SAGViT',
        arch='base',
        out_indices=(3, ),
        out_type='cls_token',
        drop_path_rate=0.1,
        trunk_init_cfg=dict(
            type='Pretrained', checkpoint=trunk_checkpoint,
            prefix='backbone.')),
    neck=None,
    head=dict(
        type='StackedLinearClsHead',
        num_classes=10,
        in_channels=embed_dims,
        mid_channels=[embed_dims],
        dropout_rate=0.1,
        act_cfg=dict(type='GELU'),
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='Resize', scale=(image_size, image_size)),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(image_size, image_size)),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=128, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(
        type='SingleLabelMetric',
        items=('precision', 'recall', 'f1-score'),
        average='macro'),
]
test_evaluator = val_evaluator

max_epochs = 50
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        end=2,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=2,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)

# See _base_/mmvig_runtime.py.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
