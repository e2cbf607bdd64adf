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
silently. ``--profile`` prints where each mode's time goes for
AttentionViG-S and ResNet-50 (top operators).

    python benchmarks/throughput.py [--device cpu|cuda] [--repeats 3]
                                    [--modes eager folded compiled onnxruntime]
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


def build(name: str) -> torch.nn.Module:
    """A backbone of :func:`benchmark_utils.build_backbone`, or AttentionViG
    ``name`` with the ImageNet configs' (default) settings. SAG-ViT returns its
    class token, as in its ImageNet configs."""
    import mmvig
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
    path = osp.join(directory, re.sub(r'\W+', '_', label) + '.onnx')
    export_onnx(use_standard_ops(model), path, (SIZE, SIZE))
    session = onnxruntime_session(path)
    feed = {'images': x.cpu().numpy()}
    return lambda: session.run(None, feed)


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
    args = p.parse_args()
    dev = device(args.device)
    print(f'inference throughput, batch {BATCH}, {SIZE}x{SIZE}; '
          f'{machine(dev)}')
    x = torch.randn(BATCH, 3, SIZE, SIZE, device=dev)
    models = {}
    for label, name in MODELS.items():
        torch.manual_seed(0)
        models[label] = build(name).to(dev)
        models[label].eval()  # mmpretrain's train() returns None
    params = {
        label: sum(p.numel() for p in m.parameters()) / 1e6
        for label, m in models.items()
    }
    results: Dict[str, Dict[str, object]] = {}
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
                for label in MODELS
            }
            if args.profile:
                for label in ('AttentionViG-S', REFERENCE):
                    if callable(calls.get(label)):
                        profile(calls[label], label, mode)
    ref = {mode: results[mode][REFERENCE] for mode in results}
    rows = []
    for label in MODELS:
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
                 for label, peer in VIG_PEER.items()]
        print('eager vs the PyramidVig peer: ' +
              ', '.join(f'{label} {ratio:.2f}x' for label, ratio in peers))
        for label, bound in TARGETS:
            target(
                f'{label} img/s / ResNet-50 (eager)',
                eager[label] / eager[REFERENCE],
                bound,
                at_most=False)
    onnx = results.get('onnxruntime', {})
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
        for label in MODELS
    }
    for label, bound in BEST_TARGETS:
        target(
            f'{label} best mode / ResNet-50 best mode',
            best[label] / best[REFERENCE],
            bound,
            at_most=False)


if __name__ == '__main__':
    main()
