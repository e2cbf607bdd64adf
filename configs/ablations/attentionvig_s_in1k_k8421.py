# Graph choice: as attentionvig_s_in1k.py, with the SVGA strides of the
# authors' GreedyViG code, K = (8, 4, 2, 1) per stage (its models/greedyvig.py;
# 6 shifts per axis on every stage at 224), instead of the paper's stated
# stride 2 (27, 13, 6, 3 shifts per axis at 224). The README's "Graph and
# Grapher choices" gives what each costs.
_base_ = '../attentionvig_s_in1k.py'

model = dict(backbone=dict(graph_strides=(8, 4, 2, 1)))
