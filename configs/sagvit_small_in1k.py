# SAG-ViT small (EfficientNetV2-B0 trunk, width 256), ImageNet-1k from scratch:
# 300 epochs, AdamW lr 1e-3 at total batch 1024 (8 GPUs x 128; --auto-scale-lr
# scales it for other totals), cosine with 20 warmup epochs, DeiT-style
# augmentation (RandAugment, random erasing, Mixup/CutMix, label smoothing).
# The MLP head classifies the class token.
#   tools/dist_train.sh configs/sagvit_small_in1k.py 8
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
    './_base_/mmvig_runtime.py',
]

embed_dims = 256
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SAGViT',
        arch='small',
        patch_size=2,
        k=1,
        out_indices=(3, ),
        out_type='cls_token',
        drop_path_rate=0.1),
    neck=None,
    head=dict(
        type='StackedLinearClsHead',
        num_classes=1000,
        in_channels=embed_dims,
        mid_channels=[embed_dims],
        dropout_rate=0.1,
        act_cfg=dict(type='GELU'),
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]),
)

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'.cls_token': dict(decay_mult=0.0)}))

# See _base_/mmvig_runtime.py.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
