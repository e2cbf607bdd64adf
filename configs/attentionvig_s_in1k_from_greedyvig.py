# AttentionViG-S on ImageNet-1k (the recipe of attentionvig_s_in1k.py),
# started from the authors' GreedyViG-S weights instead of from scratch.
#
# GreedyViG-S (CVPR 2024, SLDGroup/GreedyViG) has AttentionViG-S's skeleton:
# stem, widths, inverted residual blocks, Graphers, position encodings, FFNs,
# layer scales, downsamples and heads, tensor for tensor. Every tensor the two
# share loads, the Grapher's output projection over [x, m] (2C -> C) too; the
# cross-attention's q/k/v projections and temperatures (log_beta) start from
# their initialisation; GreedyViG's fc1 / fc2 have no counterpart and are left
# out. The log says how many tensors and parameters came from the checkpoint
# and names the new ones. How much this start saves has not been measured.
#
# First convert the authors' ImageNet checkpoint (configs/greedyvig/README.md):
#   python tools/model_converters/lineage_to_mmvig.py \
#       configs/greedyvig/greedyvig_s_in1k.py S_GreedyViG_81_1.pth \
#       checkpoints/greedyvig_s_in1k.pth
_base_ = './attentionvig_s_in1k.py'

greedyvig_s = 'checkpoints/greedyvig_s_in1k.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=greedyvig_s,
            prefix='backbone.',
            fresh=r'.*\.aggregate\.branch\.(qkv\.(weight|bias)|log_beta)')),
    head=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=greedyvig_s, prefix='head.')))
