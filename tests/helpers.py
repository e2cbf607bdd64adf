"""Shared test settings: tiny AttentionViG / SAG-ViT archs, small-data loaders,
the loss of a fixed batch, and outputs-with-gradients for comparing two runs
of a model."""
import copy

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
