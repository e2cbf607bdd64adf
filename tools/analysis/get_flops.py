"""Parameters and MACs of mmvig classifiers, measured against the paper.

MACs are counted with mmengine's ``FlopAnalyzer`` (one multiply-add = one
MAC): convolutions, norms and linear layers. Operators mmengine has no handle
for are counted here and printed in a column of their own ("+other"), not
part of the comparison with the paper:

- AttentionViG's SVGA cross-attention, ``2 * C * H * W * N`` per Grapher for
  ``N`` neighbours (cosine dot products plus the weighted sum of values); the
  paper's figures match the count without it; the same ``2 * C * N * k`` of
  the cross-attention on vanilla ViG's kNN graph (Table 3);
- AdaptViG's global attention (stage 4), ``N^2 * 5C / 4`` for ``N`` nodes
  (``q k^T`` at ``C / 4`` channels, then the weighted sum of values);
- SAG-ViT's Transformer attention matrices (``scaled_dot_product_attention``,
  ``2 * T^2 * D`` per layer for ``T`` tokens) and its cosine edge weights
  (``N * (2k+1)^2 * D`` for ``N`` nodes).

Parameters are those of the backbone and the classifier heads; a
distillation teacher is not part of the model.

    python tools/analysis/get_flops.py                 # the ImageNet configs
    python tools/analysis/get_flops.py --table3        # the paper's Table 3
    python tools/analysis/get_flops.py CONFIG [...] --shape 224
"""
import argparse
import functools
import os.path as osp
from typing import List, Optional, Tuple

import torch
from mmengine.analysis import FlopAnalyzer, parameter_count

import mmvig  # noqa: F401
from mmvig.apis import read_config, report_input_errors
from mmvig.models.attention_vig import (CrossAttentionAggregation,
                                        GlobalAttentionAggregation, Grapher)
from mmvig.models.sag_vit import SAGViT
from mmvig.models.vig_cross_attention import CrossAttentionGraphConv

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# config -> (params in M, GMACs at 224) reported by the papers: the
# AttentionViG paper's Table 1, for AttentionViG, GreedyViG and MobileViG (the
# GreedyViG and MobileViG papers' own figures, with the authors' conv biases:
# mmvig's convs before a BatchNorm have none).
PAPER = {
    'configs/attentionvig_s_in1k.py': (12.3, 1.6),
    'configs/attentionvig_m_in1k.py': (22.2, 3.2),
    'configs/attentionvig_b_in1k.py': (32.3, 4.8),
    'configs/greedyvig/greedyvig_s_in1k.py': (12.0, 1.6),
    'configs/greedyvig/greedyvig_m_in1k.py': (21.9, 3.2),
    'configs/greedyvig/greedyvig_b_in1k.py': (30.9, 5.2),
    'configs/mobilevig/mobilevig_s_in1k.py': (7.2, 1.0),
    'configs/mobilevig/mobilevig_m_in1k.py': (14.0, 1.5),
    'configs/mobilevig/mobilevig_b_in1k.py': (26.7, 2.8),
}
# The paper's Table 3 (vanilla ViG-Ti, five aggregations): GFLOPs only.
TABLE3 = {
    'configs/ablations/vig_ti_in1k_gin.py': (None, 1.3),
    'configs/ablations/vig_ti_in1k_maxrelative.py': (None, 1.3),
    'configs/ablations/vig_ti_in1k_graphsage.py': (None, 1.6),
    'configs/ablations/vig_ti_in1k_edgeconv.py': (None, 2.4),
    'configs/ablations/vig_ti_in1k_cross_attention.py': (None, 1.6),
}
# Models without published figures here: measured only (AdaptViG's are in its
# paper's tables, of which only AdaptViG-M's accuracy is quoted by mmvig).
OTHERS = [
    'configs/adaptvig/adaptvig_s_in1k.py',
    'configs/adaptvig/adaptvig_m_in1k.py',
    'configs/adaptvig/adaptvig_b_in1k.py',
    'configs/sagvit_small_in1k.py',
    'configs/sagvit_base_in1k.py',
]
PARAM_TOLERANCE, MAC_TOLERANCE = 0.01, 0.05


def build_classifier(config: str) -> torch.nn.Module:
    from mmpretrain.registry import MODELS
    cfg = read_config(config)
    cfg.model.pop('teacher', None)
    cfg.model.pop('data_preprocessor', None)
    cfg.model.pop('train_cfg', None)
    return MODELS.build(cfg.model).eval()


def count(model: torch.nn.Module, shape: int) -> Tuple[int, int, int]:
    """Parameters, mmengine MACs and the MACs of operators mmengine does not
    count, on one square image."""
    inputs = torch.randn(1, 3, shape, shape)
    other: List[int] = []

    def grapher(module: Grapher, args: tuple, output: torch.Tensor) -> None:
        other.append(module.aggregation_macs(*args[0].shape[-2:]))

    def global_attention(module: GlobalAttentionAggregation, args: tuple,
                         output: torch.Tensor) -> None:
        _, channels, height, width = args[0].shape
        nodes = height * width
        other.append(nodes * nodes * (channels // 4 + channels))

    def transformer_layer(module: torch.nn.Module, args: tuple,
                          output: torch.Tensor) -> None:
        _, tokens, dims = args[0].shape
        other.append(2 * tokens * tokens * dims)

    def edge_weights(k: int, module: torch.nn.Module, args: tuple,
                     output: tuple) -> None:
        _, nodes, dims = output[0].shape  # patch embeddings
        other.append(nodes * (2 * k + 1)**2 * dims)

    def knn_attention(module: CrossAttentionGraphConv, args: tuple,
                      output: torch.Tensor) -> None:
        x, edge_index = args[:2]
        other.append(2 * x.shape[1] * edge_index[0].numel())

    hooks = [
        m.register_forward_hook(grapher) for m in model.modules()
        if isinstance(m, Grapher)
        and isinstance(m.aggregate.branch, CrossAttentionAggregation)
    ]
    hooks += [
        m.register_forward_hook(global_attention) for m in model.modules()
        if isinstance(m, GlobalAttentionAggregation)
    ]
    hooks += [
        m.register_forward_hook(knn_attention) for m in model.modules()
        if isinstance(m, CrossAttentionGraphConv)
    ]
    for sag_vit in [m for m in model.modules() if isinstance(m, SAGViT)]:
        hooks.append(
            sag_vit.patch_embed.register_forward_hook(
                functools.partial(edge_weights, sag_vit.k)))
        hooks += [
            layer.register_forward_hook(transformer_layer)
            for layer in sag_vit.layers
        ]
    with torch.no_grad():
        model(inputs, mode='tensor')
    for hook in hooks:
        hook.remove()
    analyzer = FlopAnalyzer(model, (inputs, ))
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return parameter_count(model)[''], analyzer.total(), sum(other)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'configs',
        nargs='*',
        help='classification configs (default: ImageNet ones)')
    parser.add_argument(
        '--table3',
        action='store_true',
        help="the paper's Table 3 configs (vanilla ViG-Ti)")
    parser.add_argument(
        '--shape', type=int, default=224, help='input side in pixels')
    args = parser.parse_args(argv)
    configs = args.configs or (list(TABLE3) if args.table3 else list(PAPER) +
                               OTHERS)
    width = max(34, *(len(c) for c in configs))
    header = (
        f"{'config':<{width}} {'params (M)':>10} {'paper':>6} {'diff':>7} "
        f"{'GMACs':>7} {'paper':>6} {'diff':>7} {'+other':>6}  within bounds")
    print(header)
    print('-' * len(header))
    all_ok = True
    published = {**PAPER, **TABLE3}
    for config in configs:
        path = config if osp.isfile(config) else osp.join(ROOT, config)
        params, macs, other = count(build_classifier(path), args.shape)
        key = osp.relpath(osp.abspath(path), ROOT)
        paper = published.get(key) if args.shape == 224 else None
        row = f'{key:<{width}} {params / 1e6:>10.2f}'
        if paper is None:
            print(f'{row} {"-":>6} {"-":>7} {macs / 1e9:>7.2f} {"-":>6} '
                  f'{"-":>7} {other / 1e9:>6.3f}')
            continue
        d_macs = macs / 1e9 / paper[1] - 1
        ok = abs(d_macs) <= MAC_TOLERANCE
        if paper[0] is None:
            row += f' {"-":>6} {"-":>7}'
        else:
            d_params = params / 1e6 / paper[0] - 1
            ok &= abs(d_params) <= PARAM_TOLERANCE
            row += f' {paper[0]:>6.1f} {d_params:>+7.1%}'
        all_ok &= ok
        print(f'{row} {macs / 1e9:>7.2f} {paper[1]:>6.1f} {d_macs:>+7.1%} '
              f'{other / 1e9:>6.3f}  {"yes" if ok else "NO"}')
    print(f'\nbounds: params within {PARAM_TOLERANCE:.0%}, MACs within '
          f'{MAC_TOLERANCE:.0%} of the paper (at 224x224). +other: GMACs '
          'mmengine does not count (SVGA and kNN cross-attention, which the '
          'AttentionViG figures leave out too; AdaptViG\'s global '
          'attention; SAG-ViT attention matrices and edge weights).')
    if not all_ok:
        raise SystemExit(1)


if __name__ == '__main__':
    with report_input_errors():
        main()
