# SAG-ViT small on mmvig's synthetic shapes (6 classes, 96x96 images): the
# demo's classification stage with the second backbone; everything but the
# model comes from attentionvig_s_shapes.py. At 96x96 the patch graph is 3x3
# nodes (stride-16 map 6x6, patch_size 2).
_base_ = './attentionvig_s_shapes.py'

num_classes = 6
embed_dims = 256
model = dict(
    _delete_=True,
    type='ImageClassifier',
    data_preprocessor=dict(
        num_classes=num_classes,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='SAGViT', arch='small', out_indices=(3, ), out_type='cls_token'),
    neck=None,
    head=dict(
        type='StackedLinearClsHead',
        num_classes=num_classes,
        in_channels=embed_dims,
        mid_channels=[embed_dims],
        act_cfg=dict(type='GELU'),
        loss=dict(type='CrossEntropyLoss')),
)

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'.cls_token': dict(decay_mult=0.0)}))
