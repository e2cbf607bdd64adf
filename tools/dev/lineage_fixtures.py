"""Write the fixtures of the lineage ports (``tests/data/lineage/*.json``)
from the authors' own model code: for each released size, the key / shape /
dtype table of the authors' state dict, and their model's outputs in eval
mode, float64, with the weights :func:`mmvig.testing.seeded_state_dict`
draws for that table: the projections (:func:`mmvig.testing.projections`)
of each stage's output and of the logits (the two heads' mean, as the
authors' eval mode returns), for seeded inputs of 224x224 and 256x192 (the
released resolutions) and 232x200 (maps that the graph strides do not
divide, where the direction of the rolls matters).

Run once, with a checkout of the authors' repositories (their model files
are imported from the paths given; nothing of them is copied into mmvig):

    python tools/dev/lineage_fixtures.py \\
        --greedyvig GreedyViG/models/greedyvig.py \\
        --mobilevig MobileViG/models/mobilevig.py \\
        --adaptvig AdaptViG/models/adaptvig.py
"""
import argparse
import importlib.util
import json
import os.path as osp
import sys
import warnings

import torch

from mmvig.testing import (LINEAGE_FIXTURES, lineage_input, projections,
                           seeded_state_dict)

SEED = 2024
INPUTS = ((224, 224), (256, 192), (232, 200))
# AdaptViG's also: maps shorter than the local offset K (stage 1 10x6 with
# K = 8, stage 2 5x3 with K = 4), where the authors' slicing stands still.
ADAPTVIG_INPUTS = ((40, 24), )


def greedyvig_levels(model, x):
    """The output of each stage (GreedyViG's and AdaptViG's layout)."""
    levels = []
    x = model.stem(x)
    for stage in model.backbone:
        x = stage(x)
        levels.append(x)
    return levels


def mobilevig_levels(model, x):
    """The output of each stage: before each downsample of the flat local
    list (the last one leads to the global stage), and at the end."""
    levels = []
    x = model.stem(x)
    for block in model.local_backbone:
        if type(block).__name__ == 'Downsample':
            levels.append(x)
        x = block(x)
    for block in model.backbone:
        x = block(x)
    levels.append(x)
    return levels


def load(path: str, name: str):
    """The authors' model file, imported from ``path``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # timm's register_model looks it up
    spec.loader.exec_module(module)
    return module


def write(name: str, model, levels_of, inputs=INPUTS) -> None:
    table = [[k, list(v.shape),
              str(v.dtype).replace('torch.', '')]
             for k, v in model.state_dict().items()]
    model.load_state_dict(seeded_state_dict(table, SEED))
    model = model.double().eval()
    outputs = {}
    with torch.no_grad():
        for height, width in inputs:
            x = lineage_input(height, width)
            levels = levels_of(model, x)
            outputs[f'{height}x{width}'] = dict(
                levels=[
                    dict(
                        shape=list(level.shape),
                        projections=projections(level, SEED + i))
                    for i, level in enumerate(levels)
                ],
                logits=projections(model(x), SEED + 99, 8))
    path = osp.join(LINEAGE_FIXTURES, f'{name}.json')
    with open(path, 'w') as f:
        json.dump(dict(seed=SEED, table=table, outputs=outputs), f)
    print(f'wrote {path}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--greedyvig', help="the authors' models/greedyvig.py")
    parser.add_argument('--mobilevig', help="the authors' models/mobilevig.py")
    parser.add_argument('--adaptvig', help="the authors' models/adaptvig.py")
    args = parser.parse_args()
    warnings.simplefilter('ignore')
    if args.greedyvig:
        module = load(args.greedyvig, 'authors_greedyvig')
        for size in ('S', 'M', 'B'):
            model = getattr(module, f'GreedyViG_{size}')()
            write(f'greedyvig_{size.lower()}', model, greedyvig_levels)
    if args.mobilevig:
        module = load(args.mobilevig, 'authors_mobilevig')
        for size in ('ti', 's', 'm', 'b'):
            model = getattr(module, f'mobilevig_{size}')()
            write(f'mobilevig_{size}', model, mobilevig_levels)
    if args.adaptvig:
        module = load(args.adaptvig, 'authors_adaptvig')
        for size in ('S', 'M', 'B'):
            model = getattr(module, f'AdaptViG_{size}')()
            write(f'adaptvig_{size.lower()}', model, greedyvig_levels,
                  INPUTS + ADAPTVIG_INPUTS)


if __name__ == '__main__':
    main()
