# AttentionViG-S, -M and -B as dense backbones: what the COCO (Mask R-CNN)
# and ADE20K (Semantic FPN) configs share, stated once. A config lists this
# file beside its task's base and takes one entry:
#   model = _base_.attentionvig_s
# (mmengine refuses a key that two bases both set, hence variables).
#
# BatchNorm statistics frozen (norm_eval=True; affine weights train). The
# paper calls freezing beta "analogous to freezing batch normalization layers
# in backbones during downstream fine-tuning, a common and effective
# practice"; the authors' GreedyViG detection and segmentation backbones
# override train() to put every BatchNorm2d in eval mode; mmdet's ResNet
# Mask R-CNN does the same. (GreedyViG converts its layers to SyncBatchNorm,
# which is not a BatchNorm2d subclass, before that check: in multi-GPU runs
# of that code the check may have matched nothing. The paper's text is the
# clearer evidence. model.backbone.norm_eval=False trains the statistics.)
# The backbone starts from the EMA weights of the ImageNet checkpoint
# (configs/attentionvig_*_in1k.py, an mmvig classifier whose backbone
# weights sit under 'backbone.') when it holds them (GreedyViG loads
# state_dict_ema); the log names what it loaded. No stage is frozen
# (frozen_stages=-1), as in GreedyViG. Stochastic depth 0.1 for every arch
# (GreedyViG's B detection and segmentation backbones use 0.1 as well).
#
# SVGA graph: the paper's stride 2 on every stage, no cap on shifts (a
# stage-1 node at 1333x800 has about 265 neighbours). Set the backbone's
# max_shifts to bound the cost per pixel.
attentionvig_s = dict(
    backbone=dict(
        _delete_=True,
        type='AttentionViG',
        arch='s',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        graph_strides=2,
        max_shifts=None,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/attentionvig_s_in1k.pth',
            prefix='backbone.')),
    neck=dict(in_channels=[48, 96, 192, 384]))
# -M and -B: what differs from -S (their configs inherit the -S ones).
attentionvig_m = dict(
    backbone=dict(
        arch='m',
        init_cfg=dict(checkpoint='checkpoints/attentionvig_m_in1k.pth')),
    neck=dict(in_channels=[56, 112, 224, 448]))
attentionvig_b = dict(
    backbone=dict(
        arch='b',
        init_cfg=dict(checkpoint='checkpoints/attentionvig_b_in1k.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
# No weight decay on the temperatures; the paper keeps them, as learned on
# ImageNet, fixed (FreezeBetaHook).
attentionvig_paramwise = dict(custom_keys={'.log_beta': dict(decay_mult=0.0)})
