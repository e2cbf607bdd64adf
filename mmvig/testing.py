"""What mmvig's tests share (as ``mmdet.testing`` is mmdet's): tiny
AttentionViG / SAG-ViT archs, small-data loaders, tiny configs of the demo
pipeline written to files (for the command-line tools), the loss of a fixed
batch, outputs-with-gradients for comparing two runs of a model, and
commands run in the checkout (:func:`run_in_checkout`).

The config helpers read the demo configs of a source checkout
(:data:`REPO_ROOT`), as mmdet's read its ``configs/``."""
import contextlib
import copy
import json
import logging
import math
import os
import os.path as osp
import subprocess
import sys
import textwrap
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from .deploy import TensorOutput
from .models.layers import LayerScale2d
from .seams import BATCH_NORM

# Four stages, one block and one Grapher each: seconds per training step.
TINY = dict(widths=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_graphers=1)
# The EfficientNetV2-B0 trunk, one GAT and one Transformer layer, width 32.
SAG_TINY = dict(
    trunk='b0', embed_dims=32, gat_layers=1, gat_heads=2, depth=1, num_heads=2)


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
    return [o.detach().float() for o in outs
            ] + [g.float() for g in torch.autograd.grad(loss, params)], weights


def check_frozen(model: torch.nn.Module, frozen: Sequence[torch.nn.Module],
                 trainable: Sequence[torch.nn.Module],
                 all_frozen: bool) -> None:
    """A backbone in train mode after ``frozen_stages``: the ``frozen``
    modules are in eval mode without trainable parameters, the
    ``trainable`` ones in train mode with them; a backward pass through
    the outputs (at 96x96) leaves the frozen parameters without gradients;
    ``all_frozen``: the outputs need no gradient at all."""
    for module in frozen:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    for module in trainable:
        assert module.training
        assert all(p.requires_grad for p in module.parameters())
    outs = model(torch.randn(2, 3, 96, 96))
    if all_frozen:
        assert not any(o.requires_grad for o in outs)
        return
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is None for m in frozen for p in m.parameters())


def check_training_lowers_loss(runner, factor: float = 0.8) -> None:
    """``runner.train()`` brings the loss of the first training batch below
    ``factor`` times its value before training."""
    data = first_train_batch(runner)
    before = batch_loss(runner.model, data)
    runner.train()
    after = batch_loss(runner.model, data)
    assert after < factor * before, (before, after)


def first_train_batch(runner) -> dict:
    """The first batch of a fresh copy of the runner's train dataloader."""
    return next(
        iter(
            runner.build_dataloader(
                copy.deepcopy(runner.cfg.train_dataloader))))


def batch_loss(model, data: dict) -> float:
    """Total loss of ``model`` (a copy in train mode: batch statistics, before
    and after training alike) on ``data``, without touching ``model``."""
    torch.manual_seed(0)
    model = copy.deepcopy(model).train()
    with torch.no_grad():
        data = model.data_preprocessor(data, training=False)
        losses = model.loss(data['inputs'], data['data_samples'])
    return float(sum(losses.values()))


# The source checkout this module belongs to (``configs/``, ``tools/``).
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
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


def tiny_task_config(directory,
                     task: str,
                     data_root: str,
                     extra: str = '') -> str:
    """Write a child of the task's demo config with the TINY AttentionViG,
    ``data_root``, in-process loaders of 2 (12 for shapes) and a schedule of
    one epoch (two iterations for segmentation); returns its path."""
    base, settings = TINY_TASKS[task]
    if not osp.isfile(osp.join(REPO_ROOT, base)):
        raise FileNotFoundError(
            f'{base} is not under {REPO_ROOT}: the test helpers need a source '
            'checkout of mmvig (pip install -e .)')
    batch = 12 if task == 'cls' else 2
    loader = (f"dict(batch_size={batch}, num_workers=0, "
              f"persistent_workers=False, dataset=dict(data_root="
              f"'{data_root}/'))")
    path = osp.join(str(directory), f'tiny_{task}.py')
    with open(path, 'w') as f:
        f.write(
            f"_base_ = '{REPO_ROOT}/{base}'\n" +
            settings.format(tiny=TINY, widths=TINY['widths'], data=data_root) +
            ''.join(f'{split}_dataloader = {loader}\n'
                    for split in ('train', 'val', 'test')) +
            "param_scheduler = [dict(type='ConstantLR', factor=1.0)]\n" +
            textwrap.dedent(extra))
    return path


def tiny_classification_config(data_root: str, work_dir: str,
                               epochs: int) -> Config:
    """The demo classifier config with the TINY AttentionViG, in-process
    loaders of 12 on ``data_root``, ``epochs`` epochs at a constant lr."""
    from .apis import read_config
    cfg = read_config(
        osp.join(REPO_ROOT, 'configs/demo/attentionvig_s_shapes.py'))
    cfg.work_dir = work_dir
    cfg.model.backbone.arch = TINY
    cfg.model.head.in_channels = 128
    use_small_loaders(cfg, data_root, batch_size=12)
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0)]
    cfg.optim_wrapper.optimizer.lr = 1e-3
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    return cfg


class _Messages(logging.Handler):

    def __init__(self) -> None:
        super().__init__()
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def logged_messages() -> Iterator[List[str]]:
    """The messages mmengine's current logger emits inside the block."""
    handler = _Messages()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def run_in_checkout(
        argv: Sequence[str],
        env: Optional[Dict[str, Optional[str]]] = None,
        path_first: Optional[str] = None,
        stdin: Optional[str] = None,
        timeout: Optional[float] = 1200) -> subprocess.CompletedProcess:
    """Run ``argv`` in the checkout, with this process's environment
    changed by ``env`` (a value of None removes the variable), ``path_first``
    put first on ``PATH`` and Python unbuffered, and ``stdin`` as its input;
    its exit status and text output, captured."""
    environ = dict(os.environ, PYTHONUNBUFFERED='1')
    for name, value in (env or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    if path_first:
        environ['PATH'] = f'{path_first}{os.pathsep}{environ["PATH"]}'
    return subprocess.run(
        list(argv),
        cwd=REPO_ROOT,
        env=environ,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout)


def run_python(*args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    """``python ARGS`` with this interpreter, by :func:`run_in_checkout`
    (whose keyword arguments it takes)."""
    return run_in_checkout([sys.executable, *map(str, args)], **kwargs)


def run_tool(*args: str, **kwargs: Any) -> str:
    """:func:`run_python` of a tool script and its arguments (or ``-c
    CODE``); fail the test with its output unless it exits 0; stdout."""
    result = run_python(*args, **kwargs)
    assert result.returncode == 0, (
        result.stdout[-3000:] + result.stderr[-3000:])
    return result.stdout


def svga_neighbour_lists(height: int,
                         width: int,
                         stride: int,
                         max_shifts: Optional[int] = None) -> List[List[int]]:
    """SVGA neighbours written out from the definition, node by node: node
    ``(r, c)`` of an ``height x width`` map (row-major ids) links to the
    nodes ``t * k`` rows below and columns to the right, cyclically, for
    ``t = 1, 2, ...`` while ``t * k`` is inside the map; ``k`` is the stride,
    widened so that at most ``max_shifts`` shifts fit per axis."""
    k_h = k_w = stride
    if max_shifts is not None:
        k_h = max(stride, math.ceil(height / (max_shifts + 1)))
        k_w = max(stride, math.ceil(width / (max_shifts + 1)))
    lists = []
    for r in range(height):
        for c in range(width):
            nbrs = []
            t = 1
            while t * k_h < height:
                nbrs.append(((r + t * k_h) % height) * width + c)
                t += 1
            t = 1
            while t * k_w < width:
                nbrs.append(r * width + (c + t * k_w) % width)
                t += 1
            lists.append(nbrs)
    return lists


def randomise_norms(model: torch.nn.Module) -> torch.nn.Module:
    """BatchNorm statistics and affine weights, and layer scales, away from
    their initial values, so that folding has something to do; eval mode."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, BATCH_NORM):
            m.running_mean.copy_(
                torch.rand(m.num_features, generator=gen) * 2 - 1)
            m.running_var.copy_(
                torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(
                torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
        elif isinstance(m, LayerScale2d):
            m.weight.data.uniform_(0.5, 1.5, generator=gen)
    return model.eval()


def randomised_classifier(arch: str = 's') -> torch.nn.Module:
    """The ImageNet classifier of ``configs/attentionvig_{arch}_in1k.py``
    (no teacher), seeded, with :func:`randomise_norms`."""
    from mmpretrain.registry import MODELS

    from .apis import read_config
    cfg = read_config(
        osp.join(REPO_ROOT, f'configs/attentionvig_{arch}_in1k.py'))
    cfg.model.teacher = None
    cfg.model.data_preprocessor = cfg.data_preprocessor
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return randomise_norms(MODELS.build(cfg.model))


def tensor_outputs(model: torch.nn.Module,
                   x: torch.Tensor) -> List[torch.Tensor]:
    """The model's outputs on ``x`` as a list of tensors, without grad."""
    with torch.no_grad():
        out = TensorOutput(model)(x)
    return [out] if isinstance(out, torch.Tensor) else list(out)


def assert_relative(actual: Sequence[torch.Tensor],
                    expected: Sequence[torch.Tensor], bound: float) -> None:
    """Each output's largest difference, relative to the largest magnitude
    of the expected output, is at most ``bound``."""
    for a, e in zip(actual, expected):
        assert float((a - e).abs().max() / e.abs().max()) <= bound


def seeded_state_dict(table: Sequence[Tuple[str, Sequence[int], str]],
                      seed: int) -> Dict[str, torch.Tensor]:
    """A state dict with the keys, shapes and dtypes of ``table`` (``(key,
    shape, dtype name)`` rows) and values drawn from ``seed``, key by key,
    in a scale that keeps a deep network's activations of order one:
    conv and linear weights ``N(0, 1 / fan_in)``, norm weights ``1 + N(0,
    0.1)``, running variances in ``[0.5, 1)``, layer scales ``N(0, 0.5)``,
    temperatures (AdaptViG's gates) of either sign, log-uniform in ``[1,
    1e4]`` in magnitude (the L1 distances they divide grow from tens to
    thousands over the stages of a seeded model),
    every other float ``N(0, 0.1)``, integer counters 0. The same on every
    machine (a CPU generator), so a fixture computed from another codebase's
    model with these weights can be checked against mmvig's."""
    state = {}
    for index, (key, shape, dtype) in enumerate(table):
        generator = torch.Generator().manual_seed(seed * 100003 + index)
        dtype = getattr(torch, dtype)
        if not dtype.is_floating_point:
            state[key] = torch.zeros(shape, dtype=dtype)
            continue
        normal = torch.randn(shape, generator=generator, dtype=torch.float64)
        name = key.rsplit('.', 1)[-1]
        if name == 'running_var':
            value = 0.5 + 0.5 * torch.rand(
                shape, generator=generator, dtype=torch.float64)
        elif 'layer_scale' in key:
            value = 0.5 * normal
        elif name == 'temperature':
            value = normal.sign() * 10**(4 * torch.rand(
                shape, generator=generator, dtype=torch.float64))
        elif name == 'weight' and len(shape) > 1:
            fan_in = 1
            for n in shape[1:]:
                fan_in *= n
            value = normal / fan_in**0.5
        elif name == 'weight':
            value = 1 + 0.1 * normal
        else:
            value = 0.1 * normal
        state[key] = value.to(dtype)
    return state


def projections(tensor: torch.Tensor,
                seed: int,
                count: int = 4) -> Tuple[List[float], List[float]]:
    """``count`` projections of ``tensor`` (flattened, float64) on random
    directions drawn from ``seed``, and the scale of each (the projection of
    ``|tensor|`` on ``|direction|``): a few numbers that change with any
    element, for fixtures too small to hold whole feature maps. A relative
    tolerance applies to the scale."""
    flat = tensor.detach().reshape(-1).to(torch.float64)
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn((count, flat.numel()),
                             generator=generator,
                             dtype=torch.float64)
    return (directions @ flat).tolist(), (
        directions.abs() @ flat.abs()).tolist()


def level_shapes(height: int, width: int) -> List[Tuple[int, int]]:
    """``(H, W)`` of the four pyramid levels (strides 4, 8, 16, 32) of an
    ``height x width`` input: ``ceil(side / stride)``."""
    return [(math.ceil(height / 2**(i + 2)), math.ceil(width / 2**(i + 2)))
            for i in range(4)]


# The fixtures of tools/dev/lineage_fixtures.py: the authors' lineage models'
# key / shape tables and their outputs for seeded weights and inputs.
LINEAGE_FIXTURES = osp.join(REPO_ROOT, 'tests', 'data', 'lineage')


def lineage_fixture(name: str) -> dict:
    """The fixture ``name`` (``'greedyvig_s'``...): ``seed``, ``table``
    (key, shape, dtype of the authors' state dict) and ``outputs`` (per input
    size: each stage's shape and projections, the logits' projections)."""
    with open(osp.join(LINEAGE_FIXTURES, f'{name}.json')) as f:
        return json.load(f)


def lineage_input(height: int, width: int) -> torch.Tensor:
    """The lineage fixtures' seeded float64 image of that size,
    ``(1, 3, height, width)``."""
    generator = torch.Generator().manual_seed(height * 1000 + width)
    return torch.randn((1, 3, height, width),
                       generator=generator,
                       dtype=torch.float64)


def assert_projections(tensor: torch.Tensor,
                       want: Sequence[Sequence[float]],
                       seed: int,
                       what: object = None) -> None:
    """``tensor``'s :func:`projections` on ``seed``'s directions equal
    ``want`` (a fixture's projections and scales) within 1e-6 of each
    scale."""
    got, _ = projections(tensor, seed, len(want[0]))
    for g, w, scale in zip(got, *want):
        assert abs(g - w) <= 1e-6 * scale, (what, g, w)


def assert_lineage_outputs(model: torch.nn.Module,
                           fixture: dict,
                           sizes: Optional[Sequence[str]] = None) -> None:
    """``model``, an mmpretrain classifier of a lineage config in float64
    and eval mode, gives the fixture's outputs: each of the four stage
    outputs and the logits (``mode='tensor'``: the two heads' mean), on
    each input size of the fixture (or those of ``sizes``, ``'224x224'``...)
    within :func:`assert_projections`' tolerance."""
    seed = fixture['seed']
    with torch.no_grad():
        for size, expected in fixture['outputs'].items():
            if sizes is not None and size not in sizes:
                continue
            x = lineage_input(*map(int, size.split('x')))
            levels = model.backbone.forward_levels(x, (0, 1, 2, 3))
            assert len(levels) == len(expected['levels']) == 4
            for i, (level, want) in enumerate(zip(levels, expected['levels'])):
                assert list(level.shape) == want['shape'], (size, i)
                assert_projections(level, want['projections'], seed + i,
                                   (size, i))
            assert_projections(
                model(x, mode='tensor'), expected['logits'], seed + 99,
                (size, 'logits'))
