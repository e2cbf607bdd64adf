# SAG-ViT small and base as dense backbones: what the COCO (Mask R-CNN) and
# ADE20K (Semantic FPN) configs share, stated once. A config lists this file
# beside its task's base and takes one entry:
#   model = _base_.sagvit_small
# (mmengine refuses a key that two bases both set, hence variables).
#
# BatchNorm statistics of the EfficientNetV2 trunk frozen (norm_eval=True),
# as in the AttentionViG configs: SAG-ViT has no published detection or
# segmentation recipe, and one fine-tuning protocol for both backbones keeps
# them comparable (2 images per GPU give noisy batch statistics). The graph
# and Transformer layers use LayerNorm, which this does not touch. The
# backbone starts from configs/sagvit_*_in1k.py's checkpoint (an mmpretrain
# classifier; its backbone weights sit under 'backbone.').
#
# Levels: EfficientNetV2 maps at strides 4 and 8, the stride-16 map plus the
# upsampled graph/Transformer tokens, the token grid at stride 32 (a
# 1333x800 image gives 42x25 patch nodes).
sagvit_small = dict(
    backbone=dict(
        _delete_=True,
        type='SAGViT',
        arch='small',
        patch_size=2,
        k=1,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.1, requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/sagvit_small_in1k.pth',
            prefix='backbone.')),
    neck=dict(in_channels=[32, 48, 256, 256]))
# base: what differs from small (its configs inherit the small ones).
sagvit_base = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint='checkpoints/sagvit_base_in1k.pth')),
    neck=dict(in_channels=[48, 64, 384, 384]))
# No weight decay on the class token.
sagvit_paramwise = dict(custom_keys={'.cls_token': dict(decay_mult=0.0)})
