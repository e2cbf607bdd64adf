"""What the SVGA stride choice costs AttentionViG-S: the paper's stride 2
against the authors' GreedyViG strides K = (8, 4, 2, 1), at 224x224 and at
800x1333 (the COCO size).

For each setting and size: SVGA neighbours per node in stages 1-4, the
aggregation's GMACs (``Grapher.aggregation_macs``: cosines and the weighted
sum of values, which FLOP counters do not see; the rest of the network costs
the same for both), and a measured training step (forward + backward) with
its ratio to the paper's setting: batch 16 at 224 (the classifier's
backbone), batch 1 at 800x1333 (the backbone as the COCO config builds it).
The positional-encoding choice (``pos_embed_in_branch``) runs the same
operations either way and is not timed here.

    python benchmarks/graph_choices.py [--device cpu|cuda] [--repeats 3]
"""
import math
from typing import List, Tuple

import torch
from benchmark_utils import (build_coco_backbone, device, machine, median_time,
                             parser, table)

SETTINGS = {
    'stride 2 (paper, default)': dict(graph_strides=2),
    'K = (8, 4, 2, 1) (GreedyViG)': dict(graph_strides=(8, 4, 2, 1)),
}
# size label -> (height, width, batch, builds the COCO backbone)
SIZES = {'224x224': (224, 224, 16, False), '800x1333': (800, 1333, 1, True)}


def graph_cost(model, height: int, width: int) -> Tuple[List[int], float]:
    """Neighbours per node in each stage and the aggregation's GMACs."""
    from mmvig.models.attention_vig import Grapher
    neighbours, macs = [], 0
    for i, stage in enumerate(model.stages):
        h, w = (math.ceil(s / 2**(i + 2)) for s in (height, width))
        graphers = [m for m in stage if isinstance(m, Grapher)]
        neighbours.append(graphers[0].shifts(h, w).num_neighbours)
        macs += sum(g.aggregation_macs(h, w) for g in graphers)
    return neighbours, macs / 1e9


def step_time(model, x: torch.Tensor, dev, repeats: int) -> float:
    model.train()

    def step():
        loss = sum(o.float().mean() for o in model(x))
        loss.backward()
        model.zero_grad(set_to_none=True)

    return median_time(step, dev, repeats)


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    dev = device(args.device)
    import mmvig
    print(f'AttentionViG-S, SVGA strides; {machine(dev)}')
    rows = []
    for size, (height, width, batch, coco) in SIZES.items():
        x = torch.randn(batch, 3, height, width, device=dev)
        reference = None
        for label, graph in SETTINGS.items():
            torch.manual_seed(0)
            model = (build_coco_backbone('attentionvig', 's', graph)
                     if coco else mmvig.AttentionViG('s', **graph)).to(dev)
            neighbours, gmacs = graph_cost(model, height, width)
            seconds = step_time(model, x, dev, args.repeats)
            reference = reference or seconds
            rows.append([
                size, label, ', '.join(map(str, neighbours)), f'{gmacs:.3f}',
                f'{batch}', f'{seconds:.2f} s', f'{seconds / reference:.2f}x'
            ])
    print(
        table([
            'input', 'SVGA strides', 'neighbours per node (stages 1-4)',
            'aggregation GMACs', 'batch', 'training step', 'vs paper'
        ], rows))


if __name__ == '__main__':
    main()
