# The ADE20K recipe of mmvig's Semantic FPN configs, after the AttentionViG
# paper's: mmseg's Semantic FPN and 40k-iteration schedule, total batch 32
# (8 GPUs x 4), AdamW lr 2e-4, weight decay 1e-4, poly decay power 0.9,
# 512x512 crops, 150 classes. The optimizer, schedule and lr are those of the
# AttentionViG authors' GreedyViG Semantic FPN configs (github
# SLDGroup/GreedyViG, segmentation/configs/sem_fpn: AdamW 1e-4 x 2, wd 1e-4,
# poly 0.9, 40k iterations on 8 GPUs). A config that inherits this states its
# backbone, the neck's input channels and what else differs.
# On fewer GPUs add --auto-scale-lr (the lr scales from a total batch of 32).
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
    './mmvig_runtime.py',
]

crop_size = (512, 512)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4))
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        begin=0,
        end=40000,
        by_epoch=False)
]

auto_scale_lr = dict(enable=False, base_batch_size=32)

# See mmvig_runtime.py.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
