"""GreedyViG backbone.

"GreedyViG: Dynamic Axial Graph Construction for Efficient Vision GNNs",
Munir, Avery, Rahman, Marculescu, CVPR 2024 (arXiv 2405.06849); the authors'
code and weights: SLDGroup/GreedyViG (Apache-2.0).

AttentionViG's skeleton (stem, inverted residual blocks, Grapher blocks with a
conditional positional encoding inside the layer-scaled mixer, FFNs,
downsampling convs) with GreedyViG's aggregation: Max-Relative over the SVGA
neighbours whose distance is below ``mean - std`` of a quadrant estimate
(:class:`mmvig.models.attention_vig.DynamicMaxRelativeAggregation`), SVGA
strides 8, 4, 2, 1. Its outputs equal those of the authors' model with the
same weights (``tests/test_models/test_lineage.py``).
"""
from typing import Tuple, Union

from ..registry import MODELS
from .attention_vig import LineageViG


@MODELS.register_module()
class GreedyViG(LineageViG):
    """GreedyViG backbone for classification, detection and segmentation.

    ====  ==================  ==============  ==============  ===========
    arch  widths C1..C4       IRBs n1..n4     Graphers        params (*)
    ====  ==================  ==============  ==============  ===========
    s     48, 96, 192, 384    2, 2, 6, 2      2, 2, 2, 2      12.0 M
    m     56, 112, 224, 448   3, 3, 9, 3      3, 3, 3, 3      21.9 M
    b     64, 128, 256, 512   4, 4, 12, 3     4, 4, 4, 3      30.9 M
    ====  ==================  ==============  ==============  ===========

    (*) the authors' count, with the classification heads.

    Args:
        arch: ``'s'``, ``'m'``, ``'b'`` or a dict as :class:`AttentionViG`
            takes.
        graph_strides: SVGA stride ``K`` per stage (the authors' 8, 4, 2, 1).
        **kwargs: Every other argument of :class:`AttentionViG`
            (``out_indices``, ``frozen_stages``, ``norm_eval``,
            ``drop_path_rate``, ``with_cp``, ``init_cfg``...) but
            ``aggregator``, which is GreedyViG's own.
    """

    aggregation = [dict(type='DynamicMaxRelative')] * 4

    # yapf: disable
    arch_zoo = {
        's': dict(widths=[48, 96, 192, 384], depths=[2, 2, 6, 2],
                  num_graphers=[2, 2, 2, 2]),
        'm': dict(widths=[56, 112, 224, 448], depths=[3, 3, 9, 3],
                  num_graphers=[3, 3, 3, 3]),
        'b': dict(widths=[64, 128, 256, 512], depths=[4, 4, 12, 3],
                  num_graphers=[4, 4, 4, 3]),
    }
    # yapf: enable

    def __init__(self,
                 arch: Union[str, dict] = 's',
                 graph_strides: Union[int, Tuple[int, ...]] = (8, 4, 2, 1),
                 **kwargs) -> None:
        super().__init__(arch, graph_strides, **kwargs)
