"""Write mmvig's synthetic data sets: deterministic from a seed, in the
layouts the demo configs read (mmvig.datasets.synthetic says what is drawn).

- ``classification``: ImageNet folder layout (mmpretrain ``CustomDataset``).
- ``scenes``: COCO instance json with polygons (mmdet) and ADE20K-style
  semantic masks (mmseg).

Usage::

    python tools/misc/make_synthetic_data.py classification data/shapes \\
        --seed 0
    python tools/misc/make_synthetic_data.py scenes data/scenes --seed 0
"""
import argparse
from typing import Optional, Sequence

from mmvig.datasets import make_classification_set, make_scene_set


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('task', choices=['classification', 'scenes'])
    parser.add_argument('root', help='output folder')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--image-size', type=int, default=96)
    parser.add_argument('--train-per-class', type=int, default=200)
    parser.add_argument('--val-per-class', type=int, default=50)
    parser.add_argument(
        '--distractors',
        type=int,
        default=0,
        help='maximum smaller shapes of any class per image')
    parser.add_argument(
        '--num-train', type=int, default=200, help='scenes: training scenes')
    parser.add_argument(
        '--num-val', type=int, default=50, help='scenes: validation scenes')
    args = parser.parse_args(argv)
    if args.task == 'scenes':
        summary = make_scene_set(
            args.root, args.num_train, args.num_val, seed=args.seed)
    else:
        summary = make_classification_set(args.root, args.train_per_class,
                                          args.val_per_class, args.image_size,
                                          args.seed, args.distractors)
    print(f'{args.root}: ' + ', '.join(f'{n} {s}' for s, n in summary.items()))


if __name__ == '__main__':
    main()
