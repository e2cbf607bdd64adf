# The COCO recipe of mmvig's Mask R-CNN configs, after the AttentionViG
# paper's 1x schedule: mmdet's Mask R-CNN + FPN and 1x schedule (12 epochs,
# lr x0.1 at epochs 8 and 11), total batch 16 (8 GPUs x 2), AdamW lr 2e-4,
# weight decay 0.05 (none on norms), 1333x800. A config that inherits this
# states its backbone, the neck's input channels and what else differs.
# On fewer GPUs add --auto-scale-lr (the lr scales from a total batch of 16).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    './mmvig_runtime.py',
]

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0))

auto_scale_lr = dict(enable=False, base_batch_size=16)

# See mmvig_runtime.py.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
