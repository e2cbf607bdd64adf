"""Shared test settings: tiny AttentionViG / SAG-ViT archs, small-data loaders,
tiny configs of the demo pipeline written to files (for the command-line
tools), the loss of a fixed batch, and outputs-with-gradients for comparing
two runs of a model."""
import copy
import os.path as osp
import textwrap

import torch
from mmengine.config import Config

# Four stages, one block and one Grapher each: seconds per training step.
TINY = dict(widths=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_graphers=1)
# The EfficientNetV2-B0 trunk, one GAT and one Transformer layer, width 32.
SAG_TINY = dict(trunk='b0', embed_dims=32, gat_layers=1, gat_heads=2, depth=1,
                num_heads=2)


def use_small_loaders(cfg: Config, data_root: str, batch_size: int) -> None:
    """Point every dataloader at ``data_root``, in-process, ``batch_size``."""
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.data_root = data_root
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.batch_size = batch_size


def outputs_and_grads(model, x, weights=None):
    """Stage outputs and every parameter's gradient of a loss that weighs
    each output element differently (a plain sum is degenerate after BN)."""
    outs = model(x)
    if weights is None:
        gen = torch.Generator().manual_seed(0)
        weights = [torch.randn(o.shape, generator=gen) for o in outs]
    loss = sum((o.to(torch.promote_types(o.dtype, torch.float32)) * w).sum()
               for o, w in zip(outs, weights))
    params = [p for p in model.parameters() if p.requires_grad]
    return [o.detach().float() for o in outs] + [
        g.float() for g in torch.autograd.grad(loss, params)], weights


def first_train_batch(runner) -> dict:
    """The first batch of a fresh copy of the runner's train dataloader."""
    return next(iter(runner.build_dataloader(copy.deepcopy(
        runner.cfg.train_dataloader))))


def batch_loss(model, data: dict) -> float:
    """Total loss of ``model`` (a copy in train mode: batch statistics, before
    and after training alike) on ``data``, without touching ``model``."""
    torch.manual_seed(0)
    model = copy.deepcopy(model).train()
    with torch.no_grad():
        data = model.data_preprocessor(data, training=False)
        losses = model.loss(data['inputs'], data['data_samples'])
    return float(sum(losses.values()))


ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# task -> demo config and the settings that make it a seconds-long run
TINY_TASKS = {
    'cls': ('configs/demo/attentionvig_s_shapes.py',
            "model = dict(backbone=dict(arch=dict(_delete_=True, **{tiny})),"
            " head=dict(in_channels=128))\n"
            "train_cfg = dict(max_epochs=1, val_interval=100)\n"
            "default_hooks = dict(logger=dict(interval=1))\n"),
    'det': ('configs/demo/mask_rcnn_attentionvig_s_scenes.py',
            "model = dict(backbone=dict(arch=dict(_delete_=True, **{tiny}),"
            " init_cfg=None), neck=dict(in_channels={widths}))\n"
            "train_cfg = dict(max_epochs=1, val_interval=100)\n"
            "val_evaluator = dict(ann_file='{data}/annotations/"
            "instances_val.json')\ntest_evaluator = val_evaluator\n"
            "default_hooks = dict(logger=dict(interval=1))\n"),
    'seg': ('configs/demo/fpn_attentionvig_s_scenes.py',
            "model = dict(backbone=dict(arch=dict(_delete_=True, **{tiny}),"
            " init_cfg=None), neck=dict(in_channels={widths}),"
            " data_preprocessor=dict(size=(96, 128)))\n"
            "train_cfg = dict(max_iters=2, val_interval=100)\n"
            "default_hooks = dict(logger=dict(interval=1), "
            "checkpoint=dict(interval=2))\n"),
}


def tiny_task_config(directory, task: str, data_root: str,
                     extra: str = '') -> str:
    """Write a child of the task's demo config with the TINY AttentionViG,
    ``data_root``, in-process loaders of 2 (12 for shapes) and a schedule of
    one epoch (two iterations for segmentation); returns its path."""
    base, settings = TINY_TASKS[task]
    batch = 12 if task == 'cls' else 2
    loader = (f"dict(batch_size={batch}, num_workers=0, "
              f"persistent_workers=False, dataset=dict(data_root="
              f"'{data_root}/'))")
    path = osp.join(str(directory), f'tiny_{task}.py')
    with open(path, 'w') as f:
        f.write(f"_base_ = '{ROOT}/{base}'\n" + settings.format(
            tiny=TINY, widths=TINY['widths'], data=data_root) +
            ''.join(f'{split}_dataloader = {loader}\n'
                    for split in ('train', 'val', 'test')) +
            "param_scheduler = [dict(type='ConstantLR', factor=1.0)]\n" +
            textwrap.dedent(extra))
    return path
