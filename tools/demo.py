"""mmvig's main job on built-in data: the paper's pipeline in miniature.

1. generates the synthetic data (deterministic from a seed) under ``data/``;
2. pretrains AttentionViG-S as a classifier on shapes (mmpretrain);
3. fine-tunes Mask R-CNN from that checkpoint with beta frozen (mmdet);
4. trains Semantic FPN from the same checkpoint with beta frozen (mmseg);
5. prints one table: top-1, bbox mAP, segm mAP and mIoU, each next to the
   same model evaluated before training.

``--backbones attentionvig sagvit`` runs stages 2-4 for SAG-ViT small too
(its classifier, then Mask R-CNN and Semantic FPN from it), with its own rows
in the table.

    python tools/demo.py [--backbones attentionvig sagvit]
                         [--tasks cls det seg] [--work-dir DIR] [--small]

Every stage resumes from the checkpoints in its work dir: a finished stage is
only evaluated again, an interrupted one continues where it stopped.
"""
import argparse
import copy
import os.path as osp
import time
from typing import Dict, List, Tuple

import mmvig  # noqa: F401  (registers mmvig's modules)
from mmengine.config import Config
from mmengine.runner import Runner

from mmvig.compat import tool_environment
from mmvig.datasets import (SHAPE_CLASSES, make_classification_set,
                            make_scene_set)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# backbone -> (name in the table, demo config per task)
BACKBONES = {
    'attentionvig': ('AttentionViG-S', {
        'cls': 'configs/demo/attentionvig_s_shapes.py',
        'det': 'configs/demo/mask_rcnn_attentionvig_s_scenes.py',
        'seg': 'configs/demo/fpn_attentionvig_s_scenes.py'}),
    'sagvit': ('SAG-ViT-small', {
        'cls': 'configs/demo/sagvit_small_shapes.py',
        'det': 'configs/demo/mask_rcnn_sagvit_small_scenes.py',
        'seg': 'configs/demo/fpn_sagvit_small_scenes.py'}),
}
# (task, metric key, table label)
METRICS = [('cls', 'accuracy/top1', 'top-1 (%)'),
           ('det', 'coco/bbox_mAP', 'bbox mAP (%)'),
           ('det', 'coco/segm_mAP', 'segm mAP (%)'),
           ('seg', 'mIoU', 'mIoU (%)')]
MODELS = {'cls': '{} classifier (mmpretrain)',
          'det': 'Mask R-CNN + {} (mmdet)',
          'seg': 'Semantic FPN + {} (mmseg)'}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--backbones', nargs='+', default=['attentionvig'],
                        choices=sorted(BACKBONES))
    parser.add_argument('--tasks', nargs='+', default=['cls', 'det', 'seg'],
                        choices=['cls', 'det', 'seg'])
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data'))
    parser.add_argument('--work-dir',
                        default=osp.join(ROOT, 'work_dirs', 'demo'))
    parser.add_argument('--seed', type=int, default=0, help='data seed')
    parser.add_argument(
        '--small', action='store_true',
        help='a smoke run: tiny data sets and one epoch / 20 iterations')
    return parser.parse_args()


def stage_config(backbone: str, task: str,
                 args: argparse.Namespace) -> Config:
    configs = BACKBONES[backbone][1]
    cfg = Config.fromfile(osp.join(ROOT, configs[task]))
    cfg.work_dir = osp.join(args.work_dir, osp.splitext(
        osp.basename(configs[task]))[0])
    data = osp.join(args.data_root, 'shapes' if task == 'cls' else 'scenes')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data + '/'
    if task == 'det':
        ann = osp.join(data, 'annotations', 'instances_val.json')
        cfg.val_evaluator.ann_file = cfg.test_evaluator.ann_file = ann
    if task != 'cls':
        classifier = stage_config(backbone, 'cls', args)
        cfg.model.backbone.init_cfg.checkpoint = osp.join(
            classifier.work_dir,
            f'epoch_{classifier.train_cfg.max_epochs}.pth')
    if args.small:
        if task == 'seg':
            cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = 20
            cfg.param_scheduler[0].end = 20
            cfg.default_hooks.checkpoint.interval = 20
        else:
            cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = 1
            cfg.param_scheduler[-1].end = 1
    cfg.resume = True  # picks up the latest checkpoint in work_dir, if any
    return cfg


def evaluate_untrained(cfg: Config) -> Dict[str, float]:
    """The stage's model as initialised (ImageNet-style backbone for det and
    seg, random heads), evaluated before any training."""
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = osp.join(cfg.work_dir, 'untrained')
    cfg.resume, cfg.load_from = False, None
    runner = Runner.from_cfg(cfg)
    runner.model.init_weights()
    return runner.test()


def run_stage(backbone: str, task: str, args: argparse.Namespace
              ) -> Tuple[Dict[str, float], Dict[str, float], float]:
    cfg = stage_config(backbone, task, args)
    start = time.time()
    before = evaluate_untrained(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()
    after = runner.test()
    return before, after, (time.time() - start) / 60


def main() -> None:
    args = parse_args()
    per_class, scenes = (20, (48, 16)) if args.small else (200, (200, 50))
    print(f'[demo] generating data under {args.data_root}', flush=True)
    make_classification_set(osp.join(args.data_root, 'shapes'), per_class,
                            per_class // 4, seed=args.seed)
    make_scene_set(osp.join(args.data_root, 'scenes'), *scenes,
                   seed=args.seed)
    stages = [(b, t) for b in args.backbones for t in args.tasks]
    results: Dict[Tuple[str, str], Tuple[Dict, Dict, float]] = {}
    for index, (backbone, task) in enumerate(stages, 1):
        model = MODELS[task].format(BACKBONES[backbone][0])
        print(f'\n[demo] stage {index}/{len(stages)}: {model}', flush=True)
        results[backbone, task] = run_stage(backbone, task, args)

    rows: List[Tuple[str, ...]] = [('metric', 'model', 'untrained',
                                    'trained')]
    for backbone in args.backbones:
        for task, key, label in METRICS:
            if (backbone, task) in results:
                before, after, _ = results[backbone, task]
                scale = 100 if task == 'det' else 1  # COCO mAP is a fraction
                # mmdet's CocoMetric returns nothing when the model predicted
                # no box at all: that is an mAP of 0.
                rows.append((label, MODELS[task].format(BACKBONES[backbone][0]),
                             f'{before.get(key, 0.) * scale:.1f}',
                             f'{after.get(key, 0.) * scale:.1f}'))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    for row in rows:
        print('  '.join(c.ljust(w) for c, w in zip(row, widths)))
    minutes = ', '.join(f'{BACKBONES[b][0]} {t} {r[2]:.1f} min'
                        for (b, t), r in results.items())
    print(f'\nchance top-1: {100 / len(SHAPE_CLASSES):.1f} %; '
          f'wall time per stage: {minutes}')


if __name__ == '__main__':
    with tool_environment():
        main()
