# Mask R-CNN with AttentionViG-S on mmvig's synthetic scenes: the COCO config
# in miniature, run on a CPU (gloo for DDP, no activation checkpointing). The
# backbone starts from the shapes classifier of attentionvig_s_shapes.py,
# with beta and the BatchNorm statistics frozen as in the COCO config.
# Generate the data with:
#   python tools/misc/make_synthetic_data.py scenes data/scenes
_base_ = '../mask_rcnn_attentionvig_s_coco.py'

data_root = 'data/scenes/'
imagenet_checkpoint = 'work_dirs/demo/attentionvig_s_shapes/epoch_6.pth'
classes = ('circle', 'triangle', 'square', 'pentagon', 'star', 'cross')
metainfo = dict(classes=classes)
image_scale = (192, 160)

model = dict(
    backbone=dict(
        drop_path_rate=0.0,
        with_cp=False,  # 192x160 images: no memory to save
        init_cfg=dict(checkpoint=imagenet_checkpoint)),
    roi_head=dict(
        bbox_head=dict(num_classes=len(classes)),
        mask_head=dict(num_classes=len(classes))),
    # At most 4 objects per scene: far fewer proposals and RoIs than COCO.
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=200),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=100), rcnn=dict(max_per_img=20)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

max_epochs = 3
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[2],
        gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=4e-4))
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2))

env_cfg = dict(dist_cfg=dict(backend='gloo'))
model_wrapper_cfg = dict(type='AnyDeviceDistributedDataParallel')
