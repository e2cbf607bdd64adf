"""Inference throughput at 224x224 against ResNet-50 and the original ViG.

Backbones only, batch 32, ``torch.no_grad()``, eval mode, the models timed in
turn (median of ``--repeats`` rounds): AttentionViG-S/M/B
as the ImageNet configs build them (SVGA stride 2), mmpretrain's ResNet-50,
and mmpretrain's ``PyramidVig`` (Pyramid ViG, the original ViG) at the sizes
closest to AttentionViG's (Ti ~ S, S ~ M and B, M above B).

    python benchmarks/throughput.py [--device cpu|cuda] [--repeats 3]
"""
import statistics

import torch

from _common import (build_backbone, device, machine, median_time, parser,
                     table, target)

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
# AttentionViG model -> the PyramidVig closest in parameters.
VIG_PEER = {'AttentionViG-S': 'PyramidVig-Ti (mmpretrain)',
            'AttentionViG-M': 'PyramidVig-S (mmpretrain)',
            'AttentionViG-B': 'PyramidVig-S (mmpretrain)'}
REFERENCE = 'ResNet-50 (mmpretrain)'
TARGETS = [('AttentionViG-S', 1.5), ('AttentionViG-B', 1.0)]


def build(name: str) -> torch.nn.Module:
    """A backbone of :func:`_common.build_backbone`, or AttentionViG ``name``
    with the ImageNet configs' (default) settings. SAG-ViT returns its class
    token, as in its ImageNet configs."""
    if name in ('s', 'm', 'b'):
        import mmvig
        return mmvig.AttentionViG(arch=name, out_indices=(3, ))
    if name.startswith('sagvit-'):
        import mmvig
        return mmvig.SAGViT(arch=name[len('sagvit-'):], out_indices=(3, ),
                            out_type='cls_token')
    return build_backbone(name)


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    dev = device(args.device)
    print(f'inference throughput, batch {BATCH}, {SIZE}x{SIZE}; '
          f'{machine(dev)}')
    x = torch.randn(BATCH, 3, SIZE, SIZE, device=dev)
    models = {}
    for label, name in MODELS.items():
        torch.manual_seed(0)
        models[label] = build(name).to(dev)
        models[label].eval()
    # Round-robin: every model is timed once per round, so a slow spell of
    # the machine hits all of them alike; the median round counts.
    times = {label: [] for label in models}
    with torch.no_grad():
        for repeat in range(args.repeats + 1):
            for label, model in models.items():
                seconds = median_time(lambda: model(x), dev, repeats=1,
                                      warmup=0)
                if repeat:  # the first round warms up
                    times[label].append(seconds)
    results = {label: (sum(p.numel() for p in model.parameters()) / 1e6,
                       BATCH / statistics.median(times[label]))
               for label, model in models.items()}
    ref = results[REFERENCE][1]
    rows = []
    for label, (params, ips) in results.items():
        peer = VIG_PEER.get(label)
        rows.append((label, f'{params:.1f} M', f'{ips:.1f}', f'{ips / ref:.2f}x',
                     f'{ips / results[peer][1]:.2f}x' if peer else ''))
    print(table(('backbone', 'params', 'img/s', 'vs ResNet-50',
                 'vs PyramidVig peer'), rows))
    for label, bound in TARGETS:
        target(f'{label} img/s / ResNet-50', results[label][1] / ref, bound,
               at_most=False)


if __name__ == '__main__':
    main()
