"""What a Grapher attends to (the paper's Fig. 6), and its temperatures
(Fig. 7).

For each chosen location of IMAGE and one Grapher of the model, draws side
by side: the image with the location (cyan); (a) the paper's map, the cosine
similarity of that node's query with the key of every node of the map; (b)
what the model uses: the weights ``exp(-beta (1 - cos))`` of that node's
SVGA neighbours only. Heads are averaged unless ``--head`` picks one.
``--beta-curves`` also plots Fig. 7 for every learned temperature.
Any mmvig checkpoint with an AttentionViG backbone: classifier, Mask R-CNN
or Semantic FPN (its config tells). Runs on the CPU.

    python tools/analysis/visualize_neighbours.py CONFIG CHECKPOINT IMAGE \\
        [--points X,Y ...] [--stage 3] [--layer 2] [--head H] [--size 224] \\
        [--out neighbours.png] [--beta-curves betas.png]
"""
import argparse
from typing import Tuple

import mmcv

import mmvig  # noqa: F401  (registers mmvig's names)
from mmvig.apis import init_model, report_input_errors
from mmvig.datasets import read_image
from mmvig.visualization import (neighbours_figure, plot_beta_curves,
                                 temperatures_of)


def point(text: str) -> Tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'a point is X,Y in image pixels, got {text!r}') from None
    return x, y


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image')
    parser.add_argument(
        '--points',
        nargs='+',
        type=point,
        help='locations X,Y in pixels of the image as '
        'shown (default: three across it)')
    parser.add_argument(
        '--stage',
        type=int,
        default=3,
        help='stage 1-4 (default 3, stride 16)')
    parser.add_argument(
        '--layer',
        type=int,
        default=2,
        help='Grapher of the stage, 1-based (default: the '
        'second, as in the paper)')
    parser.add_argument(
        '--head',
        type=int,
        help='one head (0-based); default: mean over heads')
    parser.add_argument(
        '--size',
        type=int,
        default=224,
        help='shorter image side the model sees (0: as is)')
    parser.add_argument('--out', default='neighbours.png')
    parser.add_argument(
        '--beta-curves', metavar='PNG', help='also plot Fig. 7 to this file')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    model = init_model(args.config, args.checkpoint)
    image = read_image(args.image)  # BGR
    if args.size:
        image = mmcv.imrescale(image, args.size / min(image.shape[:2]))
    neighbours_figure(model, image, args.stage, args.layer, args.points,
                      args.head).savefig(
                          args.out, dpi=110)
    print(f'wrote {args.out}')
    if args.beta_curves:
        plot_beta_curves(temperatures_of(model.backbone)).savefig(
            args.beta_curves, dpi=110)
        print(f'wrote {args.beta_curves}')


if __name__ == '__main__':
    with report_input_errors():
        main()
