# Ablation (paper Table 9): as mask_rcnn_attentionvig_b_coco.py, but beta keeps
# training on COCO.
_base_ = '../mask_rcnn_attentionvig_b_coco.py'

custom_hooks = [dict(type='DivergenceHook')]  # beta trains
