"""Convert a checkpoint of the authors' GreedyViG (SLDGroup/GreedyViG),
MobileViG (SLDGroup/MobileViG) or AdaptViG (mmunir127/AdaptViG) to mmvig,
for one of mmvig's configs.

    python tools/model_converters/lineage_to_mmvig.py CONFIG SRC DST

- ImageNet classifiers (their ``main.py``: ``S_GreedyViG_81_1.pth``,
  ``MobileViG_M_80_7.pth.tar``...) with an mmpretrain config, e.g.
  ``configs/greedyvig/greedyvig_s_in1k.py``. When
  the file holds EMA weights (``state_dict_ema``, ``model_ema``), those are
  converted, and the tool says so.
- Mask R-CNN 1x COCO (mmdet 2.28) and Semantic FPN ADE20K (mmseg 0.x)
  checkpoints with the matching mmdet / mmseg config: the backbone is mapped,
  the neck and heads keep their keys.

The source is read with mmvig's safe loader (plain data and tensors only);
the result fills every key of the config's model with its shape, or the tool
stops naming the keys; DST holds ``state_dict`` (tensors) only, and loads
with ``tools/test.py CONFIG DST`` or as ``load_from``.
"""
import argparse
import os
import os.path as osp
from typing import Dict

import torch

import mmvig  # noqa: F401  (registers mmvig's modules)
from mmvig.apis import init_model, read_config, report_input_errors
from mmvig.errors import InputError
from mmvig.models import converters
from mmvig.safe_load import load_checkpoint_file


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Convert an authors' lineage checkpoint to mmvig")
    parser.add_argument('config', help="mmvig's config of the same model")
    parser.add_argument('src', help="the authors' checkpoint")
    parser.add_argument('dst', help='where to write the mmvig checkpoint')
    return parser.parse_args()


def check_fit(own: Dict[str, torch.Tensor], converted: Dict[str, torch.Tensor],
              src: str, config: str) -> None:
    """Stop, in one line, unless the converted weights fill every key of
    the config's model with its shape and hold no other key."""
    problems = []
    unfilled = sorted(set(own) - set(converted))
    if unfilled:
        problems.append(f'{len(unfilled)} keys of the model left unfilled '
                        f'(first {unfilled[:3]})')
    extra = sorted(set(converted) - set(own))
    if extra:
        problems.append(f'{len(extra)} converted keys the model does not '
                        f'have (first {extra[:3]})')
    shapes = [
        f'{k} {tuple(v.shape)} vs {tuple(own[k].shape)}'
        for k, v in converted.items() if k in own and v.shape != own[k].shape
    ]
    if shapes:
        problems.append(f'{len(shapes)} shapes differ from the model\'s '
                        f'(first {shapes[:2]})')
    if problems:
        raise InputError(f"{src} does not fit {config}'s model: " +
                         '; '.join(problems) + '. Is the config for the '
                         'same model and size as the checkpoint?')


def convert(config: str, src: str, dst: str) -> str:
    """Convert ``src`` for ``config``'s model and save it to ``dst``.

    Returns:
        str: what was converted, for the user.
    """
    cfg = read_config(config)
    backbone = cfg.model.get('backbone', {}).get('type', '')
    backbone = backbone.split('.')[-1]
    if backbone not in converters.FAMILIES:
        raise InputError(
            f'{config} has a {backbone or "no"} backbone; the converter '
            'reads checkpoints of '
            f'{", ".join(sorted(converters.FAMILIES))} models')
    convert_weights = converters.classifier if cfg.get(
        'default_scope') == 'mmpretrain' else converters.dense
    which, weights = converters.pick_weights(load_checkpoint_file(src))
    state_dict = convert_weights(backbone, weights)
    check_fit(init_model(cfg).state_dict(), state_dict, src, config)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    partial = f'{dst}.partial'
    torch.save({'state_dict': state_dict}, partial)
    os.replace(partial, dst)
    entry = f"its '{which}' entry" if which else 'the file'
    ema = ' (the EMA weights)' if which.endswith('_ema') else ''
    model = cfg.model.type.split('.')[-1]
    return (f'Converted {entry}{ema}: {len(state_dict)} tensors for '
            f'{model} with {backbone} -> {dst}')


def main() -> None:
    args = parse_args()
    with report_input_errors():
        print(convert(args.config, args.src, args.dst))


if __name__ == '__main__':
    main()
