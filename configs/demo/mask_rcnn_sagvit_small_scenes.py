# Mask R-CNN with SAG-ViT small on mmvig's synthetic scenes: the demo's
# detection stage with the second backbone (data, schedule and CPU settings
# from mask_rcnn_attentionvig_s_scenes.py; the backbone as in
# mask_rcnn_sagvit_small_coco.py with BN). The backbone starts from the
# shapes classifier of sagvit_small_shapes.py.
_base_ = './mask_rcnn_attentionvig_s_scenes.py'

imagenet_checkpoint = 'work_dirs/demo/sagvit_small_shapes/epoch_6.pth'

model = dict(
    backbone=dict(
        _delete_=True,
        type='SAGViT',
        arch='small',
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained',
            checkpoint=imagenet_checkpoint,
            prefix='backbone.')),
    neck=dict(in_channels=[32, 48, 256, 256]))

optim_wrapper = dict(
    paramwise_cfg=dict(
        _delete_=True,
        norm_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0)}))
custom_hooks = [dict(type='DivergenceHook')]  # no temperatures to freeze
