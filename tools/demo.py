"""mmvig's main job on built-in data: the paper's pipeline in miniature.

1. generates the synthetic data (deterministic from a seed) under ``data/``;
2. pretrains AttentionViG-S as a classifier on shapes (mmpretrain);
3. fine-tunes Mask R-CNN from that checkpoint with beta frozen (mmdet);
4. trains Semantic FPN from the same checkpoint with beta frozen (mmseg);
5. prints one table: top-1, bbox mAP, segm mAP and mIoU, each next to the
   same model evaluated before training;
6. writes ``work_dirs/demo/report.html``: one self-contained page with that
   table, each stage's training curves, the trained detector's and
   segmentor's predictions on held-out scenes beside the ground truth, and
   what the trained classifier's Graphers attend to (the paper's Fig. 6 and
   Fig. 7). Its pictures are PNGs in ``work_dirs/demo/report/``.

``--backbones attentionvig sagvit`` runs stages 2-4 for SAG-ViT small too
(its classifier, then Mask R-CNN and Semantic FPN from it), with its own rows
in the table.

    python tools/demo.py [--backbones attentionvig sagvit]
                         [--tasks cls det seg] [--work-dir DIR] [--small]

Every stage resumes from the checkpoints in its work dir: a finished stage is
only evaluated again, an interrupted one continues where it stopped.
"""
import argparse
import base64
import copy
import html
import os
import os.path as osp
import time
from typing import Dict, List, NamedTuple, Tuple

from mmengine.config import Config
from mmengine.runner import Runner
from tool_utils import tool_environment

import mmvig  # noqa: F401  (registers mmvig's modules)
from mmvig.apis import read_config
from mmvig.datasets import (SHAPE_CLASSES, make_classification_set,
                            make_scene_set)
from mmvig.visualization import (draw_test_predictions, neighbours_figure,
                                 plot_beta_curves, plot_training_curves,
                                 temperatures_of)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# backbone -> (name in the table, demo config per task)
BACKBONES = {
    'attentionvig': ('AttentionViG-S', {
        'cls': 'configs/demo/attentionvig_s_shapes.py',
        'det': 'configs/demo/mask_rcnn_attentionvig_s_scenes.py',
        'seg': 'configs/demo/fpn_attentionvig_s_scenes.py'
    }),
    'sagvit': ('SAG-ViT-small', {
        'cls': 'configs/demo/sagvit_small_shapes.py',
        'det': 'configs/demo/mask_rcnn_sagvit_small_scenes.py',
        'seg': 'configs/demo/fpn_sagvit_small_scenes.py'
    }),
}
# task -> metric plotted in its training curves
CURVE_METRIC = {'cls': 'accuracy/top1', 'det': 'coco/bbox_mAP', 'seg': 'mIoU'}
# (task, metric key, table label)
METRICS = [('cls', 'accuracy/top1', 'top-1 (%)'),
           ('det', 'coco/bbox_mAP', 'bbox mAP (%)'),
           ('det', 'coco/segm_mAP', 'segm mAP (%)'),
           ('seg', 'mIoU', 'mIoU (%)')]
MODELS = {
    'cls': '{} classifier (mmpretrain)',
    'det': 'Mask R-CNN + {} (mmdet)',
    'seg': 'Semantic FPN + {} (mmseg)'
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--backbones',
        nargs='+',
        default=['attentionvig'],
        choices=sorted(BACKBONES))
    parser.add_argument(
        '--tasks',
        nargs='+',
        default=['cls', 'det', 'seg'],
        choices=['cls', 'det', 'seg'])
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data'))
    parser.add_argument(
        '--work-dir', default=osp.join(ROOT, 'work_dirs', 'demo'))
    parser.add_argument('--seed', type=int, default=0, help='data seed')
    parser.add_argument(
        '--small',
        action='store_true',
        help='a smoke run: tiny data sets and one epoch / 20 iterations')
    return parser.parse_args()


def stage_config(backbone: str, task: str, args: argparse.Namespace) -> Config:
    configs = BACKBONES[backbone][1]
    cfg = read_config(osp.join(ROOT, configs[task]))
    cfg.work_dir = osp.join(args.work_dir,
                            osp.splitext(osp.basename(configs[task]))[0])
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
    # mmengine keeps one visualizer per name in a process, writing to the
    # log dir of the first run that made it: each run gets its own.
    cfg.visualizer.name = f'{backbone}_{task}'
    return cfg


def evaluate_untrained(cfg: Config) -> Dict[str, float]:
    """The stage's model as initialised (ImageNet-style backbone for det and
    seg, random heads), evaluated before any training."""
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = osp.join(cfg.work_dir, 'untrained')
    cfg.visualizer.name += '_untrained'
    cfg.resume, cfg.load_from = False, None
    runner = Runner.from_cfg(cfg)
    runner.model.init_weights()
    return runner.test()


class Stage(NamedTuple):
    before: Dict[str, float]
    after: Dict[str, float]
    minutes: float
    pictures: List[Tuple[str, str]]  # (caption, PNG path)


def stage_pictures(runner: Runner, backbone: str, task: str, out_dir: str,
                   untrained: Dict[str, float]) -> List[Tuple[str, str]]:
    """The training curves of the stage; predictions beside the ground
    truth (detection, segmentation); Fig. 6 and Fig. 7 (AttentionViG
    classifier)."""
    name = BACKBONES[backbone][0]
    model = MODELS[task].format(name)
    path = osp.join(out_dir, f'{backbone}_{task}_curves.png')
    plot_training_curves(runner.work_dir,
                         CURVE_METRIC[task], f'{model}: training',
                         untrained.get(CURVE_METRIC[task])).savefig(
                             path, dpi=90)
    pictures = [(f'{model}: training loss and {CURVE_METRIC[task]}', path)]
    if task in ('det', 'seg'):
        pictures += [
            (f'{model}: held-out scene {i}, ground truth (left) and '
             'prediction (right)', p)
            for i, p in enumerate(draw_test_predictions(runner, 3, out_dir))
        ]
    elif backbone == 'attentionvig':
        pictures += classifier_graph_pictures(runner, out_dir)
    return pictures


def classifier_graph_pictures(runner: Runner,
                              out_dir: str) -> List[Tuple[str, str]]:
    """Fig. 6 on a held-out scene (stage 2, second Grapher) and Fig. 7 of
    the trained AttentionViG-S classifier."""
    import mmcv
    data = osp.dirname(
        runner.cfg.test_dataloader.dataset.data_root.rstrip('/'))
    image = mmcv.imread(osp.join(data, 'scenes', 'images', 'val', '00000.png'))
    fig6 = osp.join(out_dir, 'fig6_neighbours.png')
    neighbours_figure(
        runner.model, image, stage=2,
        title='AttentionViG-S classifier, ').savefig(
            fig6, dpi=90)
    fig7 = osp.join(out_dir, 'fig7_temperatures.png')
    plot_beta_curves(temperatures_of(runner.model.backbone)).savefig(
        fig7, dpi=90)
    return [('What a Grapher attends to (Fig. 6) on a held-out scene: (a) '
             'cosine of the node\'s query with every key, (b) the weights '
             'of its SVGA neighbours', fig6),
            ('The learned temperatures (Fig. 7)', fig7)]


def run_stage(backbone: str, task: str, args: argparse.Namespace) -> Stage:
    cfg = stage_config(backbone, task, args)
    start = time.time()
    before = evaluate_untrained(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()
    after = runner.test()
    out_dir = osp.join(args.work_dir, 'report')
    os.makedirs(out_dir, exist_ok=True)
    pictures = stage_pictures(runner, backbone, task, out_dir, before)
    return Stage(before, after, (time.time() - start) / 60, pictures)


def main() -> None:
    args = parse_args()
    per_class, scenes = (20, (48, 16)) if args.small else (200, (200, 50))
    print(f'[demo] generating data under {args.data_root}', flush=True)
    make_classification_set(
        osp.join(args.data_root, 'shapes'),
        per_class,
        per_class // 4,
        seed=args.seed)
    make_scene_set(osp.join(args.data_root, 'scenes'), *scenes, seed=args.seed)
    stages = [(b, t) for b in args.backbones for t in args.tasks]
    results: Dict[Tuple[str, str], Stage] = {}
    for index, (backbone, task) in enumerate(stages, 1):
        model = MODELS[task].format(BACKBONES[backbone][0])
        print(f'\n[demo] stage {index}/{len(stages)}: {model}', flush=True)
        results[backbone, task] = run_stage(backbone, task, args)

    rows: List[Tuple[str, ...]] = [('metric', 'model', 'untrained', 'trained')]
    for backbone in args.backbones:
        for task, key, label in METRICS:
            if (backbone, task) in results:
                stage = results[backbone, task]
                scale = 100 if task == 'det' else 1  # COCO mAP is a fraction
                # mmdet's CocoMetric returns nothing when the model predicted
                # no box at all: that is an mAP of 0.
                rows.append(
                    (label, MODELS[task].format(BACKBONES[backbone][0]),
                     f'{stage.before.get(key, 0.) * scale:.1f}',
                     f'{stage.after.get(key, 0.) * scale:.1f}'))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    for row in rows:
        print('  '.join(c.ljust(w) for c, w in zip(row, widths)))
    minutes = ', '.join(f'{BACKBONES[b][0]} {t} {r.minutes:.1f} min'
                        for (b, t), r in results.items())
    footer = (f'chance top-1: {100 / len(SHAPE_CLASSES):.1f} %; '
              f'wall time per stage: {minutes}')
    print(f'\n{footer}')
    report = osp.join(args.work_dir, 'report.html')
    write_report(report, rows, footer,
                 [p for stage in results.values() for p in stage.pictures])
    print(f'[demo] report: {report}')


def write_report(path: str, rows: List[Tuple[str, ...]], footer: str,
                 pictures: List[Tuple[str, str]]) -> None:
    """One self-contained HTML page: the table and every picture, inlined."""

    def cells(row, tag):
        return ''.join(f'<{tag}>{html.escape(c)}</{tag}>' for c in row)

    figures = []
    for caption, png in pictures:
        with open(png, 'rb') as f:
            data = base64.b64encode(f.read()).decode()
        figures.append(f'<figure><img src="data:image/png;base64,{data}" '
                       f'alt="{html.escape(caption)}"><figcaption>'
                       f'{html.escape(caption)}</figcaption></figure>')
    table = ''.join([f'<tr>{cells(rows[0], "th")}</tr>'] +
                    [f'<tr>{cells(r, "td")}</tr>' for r in rows[1:]])
    with open(path, 'w') as f:
        f.write(
            REPORT.format(
                table=table,
                footer=html.escape(footer),
                figures='\n'.join(figures)))


REPORT = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>mmvig demo report</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto;
        padding: 0 1em; color: #222; line-height: 1.45; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #bbb; padding: 0.3em 0.8em; text-align: left; }}
th {{ background: #eee; }}
figure {{ margin: 1.5em 0; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
figcaption {{ font-size: 0.95em; color: #444; }}
</style></head><body>
<h1>mmvig demo: AttentionViG on generated data</h1>
<p>Classifier pretraining on shapes, then Mask R-CNN and Semantic FPN from
that checkpoint on scenes, each model evaluated before and after training
(<code>make demo</code>).</p>
<table>{table}</table>
<p>{footer}</p>
{figures}
</body></html>
"""

if __name__ == '__main__':
    with tool_environment():
        main()
