"""AdaptViG backbone.

"AdaptViG: Adaptive Vision GNN with Exponential Decay Gating", Munir, Rahman,
Marculescu, WACV 2026 (arXiv 2511.09942); the authors' code and weights:
mmunir127/AdaptViG (Apache-2.0).

GreedyViG's skeleton (stem, inverted residual blocks, Grapher blocks with the
conditional positional encoding inside the layer-scaled mixer, FFNs,
downsampling convs) with AdaptViG's hybrid aggregation: stages 1-3 weigh the
long-range neighbours at power-of-two offsets by exponential decay gating
(:class:`mmvig.models.attention_vig.GatedMaxRelativeAggregation`, local
offsets 8, 4, 2), stage 4 is global attention
(:class:`mmvig.models.attention_vig.GlobalAttentionAggregation`). Its outputs
equal those of the authors' model with the same weights
(``tests/test_models/test_lineage.py``).
"""
from typing import Tuple, Union

from ..registry import MODELS
from .attention_vig import LineageViG


@MODELS.register_module()
class AdaptViG(LineageViG):
    """AdaptViG backbone for classification, detection and segmentation.

    ====  ==================  ==============  ==============  ===========
    arch  widths C1..C4       IRBs n1..n4     Graphers        params (*)
    ====  ==================  ==============  ==============  ===========
    s     32, 64, 128, 256    3, 3, 9, 3      3, 3, 3, 3      8.7 M
    m     48, 96, 192, 320    4, 4, 12, 4     4, 4, 4, 4      18.1 M
    b     48, 96, 192, 384    5, 5, 15, 5     5, 5, 5, 5      27.0 M
    ====  ==================  ==============  ==============  ===========

    (*) with the classification heads (hidden width 768), counted from the
    authors' model file.

    Args:
        arch: ``'s'``, ``'m'``, ``'b'`` or a dict as :class:`AttentionViG`
            takes.
        graph_strides: Offset of the always-on nearest neighbour per stage
            (the authors' ``K``: 8, 4, 2; stage 4's is not used).
        **kwargs: Every other argument of :class:`AttentionViG`
            (``out_indices``, ``frozen_stages``, ``norm_eval``,
            ``drop_path_rate``, ``with_cp``, ``init_cfg``...) but
            ``aggregator``, which is AdaptViG's own.
    """

    aggregation = [dict(type='GatedMaxRelative')] * 3 + [
        dict(type='GlobalAttention')
    ]

    # yapf: disable
    arch_zoo = {
        's': dict(widths=[32, 64, 128, 256], depths=[3, 3, 9, 3],
                  num_graphers=[3, 3, 3, 3]),
        'm': dict(widths=[48, 96, 192, 320], depths=[4, 4, 12, 4],
                  num_graphers=[4, 4, 4, 4]),
        'b': dict(widths=[48, 96, 192, 384], depths=[5, 5, 15, 5],
                  num_graphers=[5, 5, 5, 5]),
    }
    # yapf: enable

    def __init__(self,
                 arch: Union[str, dict] = 'm',
                 graph_strides: Union[int, Tuple[int, ...]] = (8, 4, 2, 1),
                 **kwargs) -> None:
        super().__init__(arch, graph_strides, **kwargs)
