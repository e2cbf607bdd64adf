"""Inference throughput at 224x224 against ResNet-50 and the original ViG.

Backbones only, batch 32, ``torch.no_grad()``, eval mode: AttentionViG-S/M/B
as the ImageNet configs build them (SVGA stride 2), mmpretrain's ResNet-50,
and mmpretrain's ``PyramidVig`` (Pyramid ViG, the original ViG) at the sizes
closest to AttentionViG's (Ti ~ S, S ~ M and B, M above B).

    python benchmarks/throughput.py [--device cpu|cuda] [--repeats 3]
"""
import torch

from _common import device, machine, median_time, parser, table, target

BATCH, SIZE = 32, 224
MODELS = {
    'ResNet-50 (mmpretrain)': 'resnet50',
    'PyramidVig-Ti (mmpretrain)': 'pvig-tiny',
    'PyramidVig-S (mmpretrain)': 'pvig-small',
    'PyramidVig-M (mmpretrain)': 'pvig-medium',
    'AttentionViG-S': 's',
    'AttentionViG-M': 'm',
    'AttentionViG-B': 'b',
}
# AttentionViG model -> the PyramidVig closest in parameters.
VIG_PEER = {'AttentionViG-S': 'PyramidVig-Ti (mmpretrain)',
            'AttentionViG-M': 'PyramidVig-S (mmpretrain)',
            'AttentionViG-B': 'PyramidVig-S (mmpretrain)'}
REFERENCE = 'ResNet-50 (mmpretrain)'
TARGETS = [('AttentionViG-S', 1.5), ('AttentionViG-B', 1.0)]


def build(name: str) -> torch.nn.Module:
    import mmvig  # noqa: F401
    from mmpretrain.models import PyramidVig, ResNet
    if name == 'resnet50':
        return ResNet(depth=50)
    if name.startswith('pvig-'):
        return PyramidVig(arch=name[len('pvig-'):], out_indices=(3, ))
    return mmvig.AttentionViG(arch=name, out_indices=(3, ))


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    dev = device(args.device)
    print(f'inference throughput, batch {BATCH}, {SIZE}x{SIZE}; '
          f'{machine(dev)}')
    x = torch.randn(BATCH, 3, SIZE, SIZE, device=dev)
    results = {}
    for label, name in MODELS.items():
        torch.manual_seed(0)
        model = build(name).to(dev)
        model.eval()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        with torch.no_grad():
            seconds = median_time(lambda: model(x), dev, args.repeats)
        results[label] = (params, BATCH / seconds)
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
