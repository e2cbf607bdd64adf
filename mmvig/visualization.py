"""What the graph does, as pictures: the paper's Fig. 6 (neighbour maps) and
Fig. 7 (the affinity curve of every learned temperature), and a run's
training curves. Computation and drawing are separate: the ``*_maps`` and
``read_*`` functions return numbers (tested against the model), the
``plot_*`` functions draw them on matplotlib ``Figure`` objects (no
pyplot state; ``fig.savefig(path)`` writes them).

Used by ``tools/analysis/visualize_neighbours.py`` (neighbour maps and,
with ``--beta-curves``, the temperatures' curves) and the demo's report.
"""
import glob
import json
import math
import os.path as osp
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from torch import Tensor, nn

from .errors import InputError
from .ops.svga_attention import beta_from_log


class NeighbourMaps(NamedTuple):
    """Fig. 6 for one node of one Grapher, per head.

    Attributes:
        node: ``(row, col)`` of the node on the Grapher's map.
        cosine: ``(heads, h, w)``: cosine similarity of the node's query
            with the key of every node of the map (the paper's map).
        weights: ``(heads, h, w)``: the weights the model gives the node's
            SVGA neighbours (``exp(-beta (1 - cos))``, normalised as the
            aggregator is); NaN off the neighbours.
        beta: The Grapher's temperature.
        stride: Pixels per map cell.
    """
    node: Tuple[int, int]
    cosine: Tensor
    weights: Tensor
    beta: float
    stride: int


def graphers(backbone: nn.Module) -> List[List[nn.Module]]:
    """The Grapher blocks of an AttentionViG, per stage."""
    from .models.attention_vig import Grapher
    return [[m for m in stage if isinstance(m, Grapher)]
            for stage in backbone.stages]


def grapher_input(backbone: nn.Module, grapher: nn.Module,
                  images: Tensor) -> Tensor:
    """What ``grapher``'s aggregation receives when ``backbone`` runs on
    normalised ``images`` ``(B, 3, H, W)``: ``(B, C, h, w)``."""
    captured = []
    handle = grapher.aggregate.branch.register_forward_hook(
        lambda module, args, output: captured.append(args[0]))
    try:
        with torch.no_grad():
            backbone.forward_levels(images, [len(backbone.stages) - 1])
    finally:
        handle.remove()
    return captured[0]


def neighbour_maps(grapher: nn.Module, x: Tensor, node: Tuple[int, int],
                   stride: int) -> NeighbourMaps:
    """The Fig. 6 maps of ``node`` for the first image of ``x``, the input
    ``(B, C, h, w)`` of ``grapher``'s cross-attention aggregation."""
    aggregation = grapher.aggregate.branch
    if not hasattr(aggregation, 'log_beta'):
        raise InputError(f'{type(aggregation).__name__} has no attention '
                         'weights to show (cross-attention aggregators only)')
    heads = aggregation.num_heads
    _, channels, height, width = x.shape
    row, col = node
    with torch.no_grad():
        q, k, _ = aggregation.qkv(x[:1]).float().chunk(3, dim=1)
        q = nn.functional.normalize(
            q.reshape(heads, channels // heads, height, width), dim=1)
        k = nn.functional.normalize(
            k.reshape(heads, channels // heads, height, width), dim=1)
        cosine = (q[:, :, row, col, None, None] * k).sum(1)
        beta = float(beta_from_log(aggregation.log_beta.detach()))
        shifts = grapher.shifts(height, width)
        cells = [((row + t) % height, col) for t in shifts.rows] + \
            [(row, (col + t) % width) for t in shifts.cols]
        logits = torch.stack([-beta * (1 - cosine[:, r, c]) for r, c in cells],
                             dim=1)  # (heads, N)
        if aggregation.normalize == 'softmax':
            values = logits.softmax(dim=1)
        else:
            values = logits.exp() / (
                len(cells) if aggregation.normalize == 'mean' else 1)
        weights = torch.full_like(cosine, math.nan)
        for n, (r, c) in enumerate(cells):
            weights[:, r, c] = values[:, n]
    return NeighbourMaps(node, cosine, weights, beta, stride)


def image_node(point: Tuple[float, float], stride: int,
               grid: Tuple[int, int]) -> Tuple[int, int]:
    """The map cell ``(row, col)`` under image pixel ``(x, y)``."""
    x, y = point
    row, col = int(y // stride), int(x // stride)
    if not (0 <= row < grid[0] and 0 <= col < grid[1]):
        raise InputError(f'point ({x}, {y}) lies outside the image')
    return row, col


def plot_neighbour_maps(image: np.ndarray,
                        maps: Sequence[NeighbourMaps],
                        head: Optional[int] = None,
                        title: str = ''):
    """One row per node: the image with the node, the cosine map (a) and
    the SVGA weights (b), over the image. ``image`` is RGB ``(H, W, 3)``;
    ``head`` picks a head (default: the mean over heads)."""
    height, width = image.shape[:2]
    fig = Figure(figsize=(11, 3.4 * len(maps)))
    axes = fig.subplots(len(maps), 3, squeeze=False)
    for row, m in zip(axes, maps):
        pick = (lambda t: t[head]) if head is not None else \
            (lambda t: t.nanmean(0) if t.isnan().any() else t.mean(0))
        cosine, weights = pick(m.cosine), pick(m.weights)
        grid_h, grid_w = cosine.shape
        extent = (0, grid_w * m.stride, grid_h * m.stride, 0)
        centre = ((m.node[1] + 0.5) * m.stride, (m.node[0] + 0.5) * m.stride)
        grey = image.mean(-1)
        for ax, base in zip(row, (image, grey, grey)):
            ax.imshow(base, cmap='gray' if base is grey else None)
            ax.set_xlim(0, width)
            ax.set_ylim(height, 0)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_title(f'node (row {m.node[0]}, col {m.node[1]})')
        shown = row[1].imshow(
            cosine.numpy(),
            cmap='viridis',
            alpha=0.7,
            extent=extent,
            interpolation='bilinear')
        fig.colorbar(shown, ax=row[1], fraction=0.046)
        row[1].set_title('(a) cos(q_i, k_j), every node')
        shown = row[2].imshow(
            np.ma.masked_invalid(weights.numpy()),
            cmap='magma',
            vmin=0,
            alpha=0.85,
            extent=extent,
            interpolation='nearest')
        fig.colorbar(shown, ax=row[2], fraction=0.046)
        row[2].set_title(f'(b) SVGA weights, beta = {m.beta:.2f}')
        for ax in row:
            ax.plot(
                *centre,
                'o',
                markersize=9,
                markerfacecolor='none',
                markeredgecolor='cyan',
                markeredgewidth=2.5)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_beta_curves(temperatures: Sequence[Tuple[str, float]], title=''):
    """The paper's Fig. 7: ``exp(-beta (1 - s))`` over ``s`` in [-1, 1],
    one labelled curve per ``(label, beta)``."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    s = np.linspace(-1, 1, 401)
    colours = colormaps['viridis'](
        np.linspace(0, 0.9, max(len(temperatures), 1)))
    for (label, beta), colour in zip(temperatures, colours):
        ax.plot(
            s,
            np.exp(-beta * (1 - s)),
            color=colour,
            label=f'{label}: beta = {beta:.2f}')
    ax.set_xlabel('cosine similarity s of query and key')
    ax.set_ylabel('weight exp(-beta (1 - s))')
    ax.set_xlim(-1, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or 'Affinity of each Grapher (Fig. 7)')
    fig.tight_layout()
    return fig


def read_scalars(work_dir: str) -> Tuple[List[dict], List[dict]]:
    """The training and validation records of the latest run in
    ``work_dir`` (mmengine's ``vis_data/scalars.json``)."""
    runs = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not runs:
        raise FileNotFoundError(f'no training log (*/vis_data/scalars.json) '
                                f'under {work_dir}')
    train, val = [], []
    for path in runs:  # a resumed run continues the earlier one's log
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                (train if 'loss' in record else val).append(record)
    return train, val


def plot_training_curves(work_dir: str,
                         metric: str,
                         title: str = '',
                         untrained: Optional[float] = None):
    """Loss per logged step and ``metric`` per evaluation of a run (and,
    given ``untrained``, the model's metric before training, at 0)."""
    train, val = read_scalars(work_dir)
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    left.plot([r['step'] for r in train], [r['loss'] for r in train],
              '.-',
              color='tab:blue')
    left.set_xlabel('iteration')
    left.set_ylabel('training loss')
    left.grid(alpha=0.3)
    points = [(r['step'], r[metric]) for r in val if metric in r]
    if untrained is not None:
        points.insert(0, (0, untrained))
        right.annotate(
            'untrained',
            points[0],
            textcoords='offset points',
            xytext=(4, 6),
            fontsize=8)
    if points:
        right.plot(*zip(*points), 'o-', color='tab:orange')
    right.set_xlabel('evaluation (epoch, or iteration for iteration-based '
                     'runs)')
    right.set_ylabel(metric)
    right.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def temperatures_of(backbone: nn.Module) -> List[Tuple[str, float]]:
    """``('stage i, Grapher g', beta)`` of every cross-attention Grapher."""
    out = []
    for i, stage in enumerate(graphers(backbone), 1):
        for g, grapher in enumerate(stage, 1):
            aggregation = grapher.aggregate.branch
            if hasattr(aggregation, 'log_beta'):
                out.append(
                    (f'stage {i}, Grapher {g}',
                     float(beta_from_log(aggregation.log_beta.detach()))))
    return out


def spread_points(width: int, height: int) -> List[Tuple[float, float]]:
    """Three points across the image (the default of the Fig. 6 tool)."""
    return [(width * fx, height * fy)
            for fx, fy in ((0.3, 0.35), (0.5, 0.5), (0.7, 0.65))]


def stage_stride(stage: int) -> int:
    """Pixels per map cell of stage ``stage`` (1-based)."""
    return 2**(stage + 1)


def draw_test_predictions(runner,
                          count: int,
                          out_dir: str,
                          score_thr: float = 0.3) -> List[str]:
    """The first ``count`` images of a runner's test set with their ground
    truth beside the prediction, drawn by the task library's own visualizer
    (``runner.visualizer``: mmdet's boxes and masks, mmseg's label maps);
    returns the PNG paths under ``out_dir``."""
    import inspect

    import mmcv
    from mmengine.dataset import pseudo_collate
    from mmengine.model import is_model_wrapper
    model = runner.model.module if is_model_wrapper(runner.model) else \
        runner.model
    model.eval()
    dataset = runner.test_dataloader.dataset
    visualizer = runner.visualizer
    visualizer.dataset_meta = dataset.metainfo
    if hasattr(visualizer, 'alpha'):  # mmseg's: label colours over the image
        visualizer.alpha = 0.5
    extra = {'pred_score_thr': score_thr} if 'pred_score_thr' in \
        inspect.signature(visualizer.add_datasample).parameters else {}
    paths = []
    for index in range(min(count, len(dataset))):
        with torch.no_grad():
            sample = model.test_step(pseudo_collate([dataset[index]]))[0]
        path = osp.join(out_dir, f'{osp.basename(runner.work_dir)}_'
                        f'{index}.png')
        visualizer.add_datasample(
            f'test_{index}',
            mmcv.imread(sample.img_path, channel_order='rgb'),
            sample,
            draw_gt=True,
            draw_pred=True,
            show=False,
            out_file=path,
            **extra)
        paths.append(path)
    return paths


def neighbours_figure(model: nn.Module,
                      image: np.ndarray,
                      stage: int = 3,
                      layer: int = 2,
                      points: Optional[Sequence[Tuple[float, float]]] = None,
                      head: Optional[int] = None,
                      title: str = ''):
    """Fig. 6 of one Grapher of ``model`` (a classifier, detector or
    segmentor with an AttentionViG backbone, its ``data_preprocessor``
    normalising) on a BGR ``image`` ``(H, W, 3)`` uint8, at ``points`` in
    its pixels (default: three across it).

    Raises:
        InputError: no such stage, Grapher or head, or a point outside.
    """
    from .apis import attention_vig_backbone
    backbone = attention_vig_backbone(model)
    stages = graphers(backbone)
    if not 1 <= stage <= len(stages) or \
            not 1 <= layer <= len(stages[stage - 1]):
        raise InputError(f'stage {stage}, Grapher {layer}: the model has '
                         f'{[len(s) for s in stages]} Graphers per stage')
    grapher = stages[stage - 1][layer - 1]
    heads = getattr(grapher.aggregate.branch, 'num_heads', 0)
    if head is not None and not 0 <= head < heads:
        raise InputError(f'head {head}: this Grapher has {heads} heads')
    inputs = model.data_preprocessor(
        dict(inputs=[
            torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        ]), False)['inputs']
    x = grapher_input(backbone, grapher, inputs)
    stride = stage_stride(stage)
    height, width = image.shape[:2]
    maps = [
        neighbour_maps(grapher, x, image_node(p, stride, x.shape[-2:]), stride)
        for p in points or spread_points(width, height)
    ]
    what = 'mean over heads' if head is None else f'head {head}'
    return plot_neighbour_maps(
        image[..., ::-1], maps, head,
        f'{title}stage {stage}, Grapher {layer} ({what})')
