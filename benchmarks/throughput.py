"""Inference throughput at 224x224 against ResNet-50 and the original ViG,
in four modes.

Backbones only, batch 32, ``torch.no_grad()``, eval mode: AttentionViG-S/M/B
as the ImageNet configs build them (SVGA stride 2), mmpretrain's ResNet-50,
mmpretrain's ``PyramidVig`` (Pyramid ViG, the original ViG) at the sizes
closest to AttentionViG's, and SAG-ViT (class token). Every model runs in
the same four modes:

- eager: as built;
- folded: BatchNorms folded into the convolutions (mmvig's
  ``switch_to_deploy``, which also folds layer scales and the positional
  encodings; ResNet-50 and PyramidVig: every BatchNorm after a conv), the
  outputs checked against eager;
- compiled: the folded model under ``torch.compile`` (inductor), inputs and
  weights channels_last; compile time not counted;
- onnxruntime: the folded model exported to ONNX (mmvig's SVGA on standard
  ops) and run by onnxruntime's CPU provider.

Within a mode the models are timed in turn (median of ``--repeats``
rounds, one warm-up round), so a slow spell of the machine hits them alike.
A mode a model cannot run in is reported with the reason, not skipped
silently. The peers a user would pick at AttentionViG-S's size run beside
it (random weights, from the installed packages): timm's FastViT-SA12 and
EfficientFormerV2-S2 (folded by timm's ``reparameterize_model``) and
mmpretrain's PyramidVig. ``--profile`` prints where each mode's time goes
for AttentionViG-S and ResNet-50 (top PyTorch operators) and, in
onnxruntime, the node time per operator type of AttentionViG-S, ResNet-50
and FastViT-SA12 (onnxruntime's profiler) with the share of data-movement
operators (Transpose, Where, Slice, Concat, Reshape, ..., Reorder*).

    python benchmarks/throughput.py [--device cpu|cuda] [--repeats 3]
                                    [--modes eager folded compiled onnxruntime]
                                    [--models 'AttentionViG-S' ...] [--profile]
"""
import os.path as osp
import re
import statistics
import tempfile
from typing import Callable, Dict, Optional

import torch
from benchmark_utils import (build_backbone, device, machine, median_time,
                             parser, table, target)
from fold_peers import fold_batchnorm_after_conv

BATCH, SIZE = 32, 224
MODELS = {
    'ResNet-50 (mmpretrain)': 'resnet50',
    'FastViT-SA12 (timm)': 'timm:fastvit_sa12',
    'EfficientFormerV2-S2 (timm)': 'timm:efficientformerv2_s2',
    'PyramidVig-Ti (mmpretrain)': 'pvig-tiny',
    'PyramidVig-S (mmpretrain)': 'pvig-small',
    'PyramidVig-M (mmpretrain)': 'pvig-medium',
    'AttentionViG-S': 's',
    'AttentionViG-M': 'm',
    'AttentionViG-B': 'b',
    'SAG-ViT small': 'sagvit-small',
    'SAG-ViT base': 'sagvit-base',
}
MODES = ('eager', 'folded', 'compiled', 'onnxruntime')
# AttentionViG model -> the PyramidVig closest in parameters.
VIG_PEER = {
    'AttentionViG-S': 'PyramidVig-Ti (mmpretrain)',
    'AttentionViG-M': 'PyramidVig-S (mmpretrain)',
    'AttentionViG-B': 'PyramidVig-S (mmpretrain)'
}
REFERENCE = 'ResNet-50 (mmpretrain)'
# The eager targets, and the deploy targets (best mode against ResNet-50's
# best mode; -B has 1.18x ResNet-50's MACs).
TARGETS = [('AttentionViG-S', 1.5), ('AttentionViG-B', 1.0)]
BEST_TARGETS = [('AttentionViG-S', 1.5), ('AttentionViG-B', 0.8)]
# onnxruntime against ResNet-50 in onnxruntime (the SVGA aggregation exports
# as MatMul over residue classes)
ONNX_TARGETS = BEST_TARGETS
FASTVIT = 'FastViT-SA12 (timm)'
# --profile: onnxruntime's per-operator table for these; data-movement
# operators at most this share of AttentionViG-S's node time.
PROFILED = ('AttentionViG-S', REFERENCE, FASTVIT)
LAYOUT_SHARE_TARGET = 0.10


def build(name: str) -> torch.nn.Module:
    """A backbone of :func:`benchmark_utils.build_backbone`, or AttentionViG
    ``name`` with the ImageNet configs' (default) settings. SAG-ViT returns its
    class token, as in its ImageNet configs."""
    import mmvig
    if name.startswith('timm:'):
        import timm  # random weights, classifier left out
        return timm.create_model(name[len('timm:'):], num_classes=0)
    if name in ('s', 'm', 'b'):
        return mmvig.AttentionViG(arch=name, out_indices=(3, ))
    if name.startswith('sagvit-'):
        return mmvig.SAGViT(
            arch=name[len('sagvit-'):],
            out_indices=(3, ),
            out_type='cls_token')
    return build_backbone(name)


def first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def folded(model: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    """The model folded (its own ``switch_to_deploy``, else every BatchNorm
    after a conv), checked against its eager outputs."""
    with torch.no_grad():
        expected = first(model(x[:2]))
    if hasattr(model, 'switch_to_deploy'):
        model.switch_to_deploy()
    elif type(model).__module__.startswith('timm.'):
        from timm.utils.model import reparameterize_model
        model = reparameterize_model(model)  # timm's own inference form
        fold_batchnorm_after_conv(model, x[:2])
    else:
        fold_batchnorm_after_conv(model, x[:2])
    with torch.no_grad():
        error = float((first(model(x[:2])) - expected).abs().max() /
                      expected.abs().max())
    if error > 1e-4:
        raise RuntimeError(f'folding changed the outputs ({error:.1e})')
    return model


def compiled(model: torch.nn.Module, x: torch.Tensor) -> Callable:
    model = torch.compile(model.to(memory_format=torch.channels_last))
    x_cl = x.to(memory_format=torch.channels_last)
    with torch.no_grad():
        model(x_cl)  # compile now, not in the timed rounds
    return lambda: model(x_cl)


def onnxruntime_runner(model: torch.nn.Module, x: torch.Tensor, directory: str,
                       label: str) -> Callable:
    """The (already folded) model exported by mmvig's exporter, run by
    onnxruntime."""
    from mmvig.deploy import export_onnx, onnxruntime_session, use_standard_ops
    path = onnx_path(directory, label)
    export_onnx(use_standard_ops(model), path, (SIZE, SIZE))
    session = onnxruntime_session(path)
    feed = {'images': x.cpu().numpy()}
    return lambda: session.run(None, feed)


def onnx_path(directory: str, label: str) -> str:
    return osp.join(directory, re.sub(r'\W+', '_', label) + '.onnx')


# Operators that move or select data without arithmetic (issue: the layout
# copies around the SVGA aggregation).
LAYOUT_OPS = ('Transpose', 'Where', 'Slice', 'Concat', 'Reshape', 'Gather',
              'Expand', 'Squeeze', 'Unsqueeze', 'Split', 'Tile')


def onnxruntime_op_times(path: str,
                         x: torch.Tensor,
                         runs: int = 2) -> Dict[str, float]:
    """Microseconds of node time per batch by operator type, the mean of
    ``runs`` batches (onnxruntime's own profiler; the first, warm-up run not
    counted: onnxruntime writes a run's ``model_run`` event after its
    nodes' events)."""
    import json

    import onnxruntime as ort
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = path[:-len('.onnx')]
    session = ort.InferenceSession(
        path, options, providers=['CPUExecutionProvider'])
    feed = {'images': x.cpu().numpy()}
    session.run(None, feed)
    for _ in range(runs):
        session.run(None, feed)
    with open(session.end_profiling()) as f:
        events = json.load(f)
    runs_seen, totals = 0, {}
    for event in events:
        if event.get('name') == 'model_run':
            runs_seen += 1
        args = event.get('args', {})
        if event.get('cat') == 'Node' and runs_seen >= 1 and \
                event.get('name', '').endswith('_kernel_time'):
            op = args.get('op_name', '?')
            totals[op] = totals.get(op, 0.) + event.get('dur', 0) / runs
    return totals


def layout_share(totals: Dict[str, float]) -> float:
    """The share of node time in data-movement operators
    (:data:`LAYOUT_OPS`, and onnxruntime's own layout ``Reorder*``)."""
    layout = sum(t for op, t in totals.items()
                 if op in LAYOUT_OPS or op.startswith('Reorder'))
    return layout / max(sum(totals.values()), 1e-9)


def print_op_table(label: str, totals: Dict[str, float]) -> None:
    total = sum(totals.values())
    rows = [[op, f'{t / 1e3:.1f}', f'{100 * t / total:.1f} %']
            for op, t in sorted(totals.items(), key=lambda kv: -kv[1])[:12]]
    print(f'\n{label}, onnxruntime: node time by operator type '
          f'(layout operators {100 * layout_share(totals):.1f} %)')
    print(table(['operator', 'ms per batch', 'share'], rows))


def runners(mode: str, models: Dict[str, torch.nn.Module], x: torch.Tensor,
            directory: str) -> Dict[str, Optional[Callable]]:
    """``label -> callable`` timing one batch in ``mode``; a reason string
    instead when the model cannot run that way."""
    out = {}
    for label, model in models.items():
        try:
            if mode in ('eager', 'folded'):
                out[label] = (lambda m=model: m(x))
            elif mode == 'compiled':
                out[label] = compiled(model, x)
            else:
                out[label] = onnxruntime_runner(model, x, directory, label)
        except Exception as error:  # noqa: BLE001 -- reported in the table
            out[label] = f'{type(error).__name__}: {str(error)[:60]}'
    return out


def time_round_robin(calls: Dict[str, Callable], dev,
                     repeats: int) -> Dict[str, float]:
    times = {label: [] for label, call in calls.items() if callable(call)}
    with torch.no_grad():
        for repeat in range(repeats + 1):
            for label in times:
                seconds = median_time(calls[label], dev, repeats=1, warmup=0)
                if repeat:  # the first round warms up
                    times[label].append(seconds)
    return {label: BATCH / statistics.median(t) for label, t in times.items()}


def profile(call: Callable, label: str, mode: str) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    with torch.no_grad(), torch_profile(activities=[ProfilerActivity.CPU]) \
            as prof:
        call()
    print(f'\n{label}, {mode}: top operators by self CPU time')
    print(prof.key_averages().table(
        sort_by='self_cpu_time_total', row_limit=8))


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument('--modes', nargs='+', default=list(MODES), choices=MODES)
    p.add_argument('--profile', action='store_true')
    p.add_argument(
        '--models',
        nargs='+',
        default=list(MODELS),
        choices=list(MODELS),
        metavar='LABEL',
        help='a subset of the models (ResNet-50 always runs: the ratios '
        'are against it)')
    args = p.parse_args()
    others = [m for m in MODELS if m in args.models and m != REFERENCE]
    chosen = [REFERENCE] + others
    dev = device(args.device)
    print(f'inference throughput, batch {BATCH}, {SIZE}x{SIZE}; '
          f'{machine(dev)}')
    x = torch.randn(BATCH, 3, SIZE, SIZE, device=dev)
    models = {}
    for label in chosen:
        name = MODELS[label]
        torch.manual_seed(0)
        models[label] = build(name).to(dev)
        models[label].eval()  # mmpretrain's train() returns None
    params = {
        label: sum(p.numel() for p in m.parameters()) / 1e6
        for label, m in models.items()
    }
    results: Dict[str, Dict[str, object]] = {}
    op_times: Dict[str, Dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        for mode in args.modes:
            if mode == 'folded':
                for label in list(models):
                    try:
                        models[label] = folded(models[label], x)
                    except Exception as error:  # noqa: BLE001
                        models[label] = f'{type(error).__name__}: {error}'
            live = {
                k: m
                for k, m in models.items() if isinstance(m, torch.nn.Module)
            }
            calls = runners(mode, live, x, directory)
            speeds = time_round_robin(calls, dev, args.repeats)
            results[mode] = {
                label: speeds.get(label, calls.get(label, models[label]))
                for label in chosen
            }
            if args.profile and mode == 'onnxruntime':
                for label in PROFILED:
                    if callable(calls.get(label)):
                        op_times[label] = onnxruntime_op_times(
                            onnx_path(directory, label), x)
                        print_op_table(label, op_times[label])
            elif args.profile:
                for label in ('AttentionViG-S', REFERENCE):
                    if callable(calls.get(label)):
                        profile(calls[label], label, mode)
    ref = {mode: results[mode][REFERENCE] for mode in results}
    rows = []
    for label in chosen:
        row = [label, f'{params[label]:.1f} M']
        for mode in results:
            value = results[mode][label]
            row += ([f'{value:.1f}', f'{value / ref[mode]:.2f}x']
                    if isinstance(value, float)
                    and isinstance(ref[mode], float) else [str(value), ''])
        rows.append(row)
    header = ['backbone', 'params']
    for mode in results:
        header += [f'img/s {mode}', 'vs ResNet-50']
    print(table(header, rows))
    if 'eager' in results:
        eager = results['eager']
        peers = [(label, eager[label] / eager[peer])
                 for label, peer in VIG_PEER.items()
                 if label in eager and peer in eager]
        print('eager vs the PyramidVig peer: ' +
              ', '.join(f'{label} {ratio:.2f}x' for label, ratio in peers))
        for label, bound in TARGETS:
            if label not in eager:
                continue
            target(
                f'{label} img/s / ResNet-50 (eager)',
                eager[label] / eager[REFERENCE],
                bound,
                at_most=False)
    if 'AttentionViG-S' in op_times:
        target(
            'AttentionViG-S layout operators / onnxruntime node time',
            layout_share(op_times['AttentionViG-S']),
            LAYOUT_SHARE_TARGET,
            at_most=True)
    onnx = results.get('onnxruntime', {})
    if all(
            isinstance(onnx.get(k), float)
            for k in (REFERENCE, FASTVIT, 'AttentionViG-S')):
        ratio = onnx['AttentionViG-S'] / onnx[FASTVIT]
        target(
            "AttentionViG-S's ratio to ResNet-50 / FastViT-SA12's "
            '(onnxruntime)',
            ratio,
            1.0,
            at_most=False)
    if all(
            isinstance(onnx.get(k), float)
            for k in [REFERENCE] + [label for label, _ in ONNX_TARGETS]):
        for label, bound in ONNX_TARGETS:
            target(
                f'{label} img/s / ResNet-50 (onnxruntime)',
                onnx[label] / onnx[REFERENCE],
                bound,
                at_most=False)
    best = {
        label:
        max((results[m][label]
             for m in results if isinstance(results[m][label], float)),
            default=0.)
        for label in chosen
    }
    for label, bound in BEST_TARGETS:
        if label not in best:
            continue
        target(
            f'{label} best mode / ResNet-50 best mode',
            best[label] / best[REFERENCE],
            bound,
            at_most=False)


if __name__ == '__main__':
    main()
