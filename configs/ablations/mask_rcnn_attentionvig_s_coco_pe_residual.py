# Downstream run of ablations/attentionvig_s_in1k_pe_residual.py: as
# mask_rcnn_attentionvig_s_coco.py, with the positional encoding on the
# residual stream, from that classifier's ImageNet checkpoint.
_base_ = '../mask_rcnn_attentionvig_s_coco.py'

model = dict(
    backbone=dict(
        pos_embed_in_branch=False,
        init_cfg=dict(
            checkpoint='checkpoints/attentionvig_s_in1k_pe_residual.pth')))
