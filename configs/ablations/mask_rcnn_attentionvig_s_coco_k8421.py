# Downstream run of ablations/attentionvig_s_in1k_k8421.py: as
# mask_rcnn_attentionvig_s_coco.py, with the SVGA strides K = (8, 4, 2, 1) of
# GreedyViG, from that classifier's ImageNet checkpoint.
_base_ = '../mask_rcnn_attentionvig_s_coco.py'

model = dict(
    backbone=dict(
        graph_strides=(8, 4, 2, 1),
        init_cfg=dict(checkpoint='checkpoints/attentionvig_s_in1k_k8421.pth')))
