"""MobileViG backbone.

"MobileViG: Graph-Based Sparse Attention for Mobile Vision Applications",
Munir, Avery, Marculescu, CVPR Workshops 2023 (arXiv 2307.00395); the
authors' code and weights: SLDGroup/MobileViG (Apache-2.0).

AttentionViG's skeleton with MobileViG's layout: stages 1-3 are inverted
residual blocks only ("local"), stage 4 Grapher blocks only ("global"), each
Grapher without positional encoding or layer scales, aggregating its SVGA
neighbours (stride 2) by Max-Relative between ``fc1`` and ``fc2``
(:class:`mmvig.models.attention_vig.MobileViGMaxRelativeAggregation`). Its
outputs equal those of the authors' model with the same weights
(``tests/test_models/test_lineage.py``).
"""
from typing import Tuple, Union

from ..registry import MODELS
from .attention_vig import LineageViG


@MODELS.register_module()
class MobileViG(LineageViG):
    """MobileViG backbone for classification, detection and segmentation.

    ====  ===================  ==============  ==========  ===========
    arch  widths C1..C4        IRBs n1..n3     Graphers    params (*)
    ====  ===================  ==============  ==========  ===========
    ti    42, 84, 168, 256     2, 2, 6         2           5.3 M
    s     42, 84, 176, 256     3, 3, 9         3           7.3 M
    m     42, 84, 224, 400     3, 3, 9         3           14.1 M
    b     42, 84, 240, 464     5, 5, 15        5           26.9 M
    ====  ===================  ==============  ==========  ===========

    (*) with the classification heads (hidden width 512 for ti / s, 768 for
    m / b), counted from the authors' model file.

    Args:
        arch: ``'ti'``, ``'s'``, ``'m'``, ``'b'`` or a dict as
            :class:`AttentionViG` takes.
        graph_strides: SVGA stride ``K`` per stage (the authors' 2).
        **kwargs: Every other argument of :class:`AttentionViG`
            (``out_indices``, ``frozen_stages``, ``norm_eval``,
            ``drop_path_rate``, ``with_cp``, ``init_cfg``...) but
            ``aggregator``, which is MobileViG's own.
    """

    grapher_layout = dict(pos_embed=False, layer_scale=False)

    aggregation = [dict(type='MobileViGMaxRelative')] * 4

    # yapf: disable
    arch_zoo = {
        'ti': dict(widths=[42, 84, 168, 256], depths=[2, 2, 6, 0],
                   num_graphers=[0, 0, 0, 2]),
        's': dict(widths=[42, 84, 176, 256], depths=[3, 3, 9, 0],
                  num_graphers=[0, 0, 0, 3]),
        'm': dict(widths=[42, 84, 224, 400], depths=[3, 3, 9, 0],
                  num_graphers=[0, 0, 0, 3]),
        'b': dict(widths=[42, 84, 240, 464], depths=[5, 5, 15, 0],
                  num_graphers=[0, 0, 0, 5]),
    }
    # yapf: enable

    def __init__(self,
                 arch: Union[str, dict] = 's',
                 graph_strides: Union[int, Tuple[int, ...]] = 2,
                 **kwargs) -> None:
        super().__init__(arch, graph_strides, **kwargs)
