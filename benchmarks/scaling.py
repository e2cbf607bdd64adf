"""How AttentionViG-S forward time grows with the image size.

One forward pass (batch 1, eval, ``torch.no_grad()``) at 224, 448, 672, 896
and 1120 pixels square, for two graph settings: the paper's SVGA stride 2 with
no cap (the number of neighbours grows with the map) and a cap on the shifts
per axis that keeps the 224 graph's neighbour counts at every size (27, 13, 6,
3 shifts per axis in stages 1-4). The exponent ``e`` of ``time ~ pixels^e``
is the least-squares slope in log-log.

    python benchmarks/scaling.py [--device cpu|cuda] [--repeats 3]
"""
import torch
from benchmark_utils import (device, fitted_exponent, machine, median_time,
                             parser, table, target)

SIZES = (224, 448, 672, 896, 1120)
SETTINGS = {
    'stride 2, no cap (paper)':
    dict(graph_strides=2, max_shifts=None),
    'stride 2, shifts capped at the 224 graph':
    dict(graph_strides=2, max_shifts=(27, 13, 6, 3)),
}
CAPPED = 'stride 2, shifts capped at the 224 graph'
EXPONENT_BOUND = 1.1


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    dev = device(args.device)
    import mmvig
    print(f'AttentionViG-S forward time vs image size, batch 1; '
          f'{machine(dev)}')
    models = {}
    for label, graph in SETTINGS.items():
        torch.manual_seed(0)
        models[label] = mmvig.AttentionViG(arch='s', **graph).to(dev).eval()
    inputs = [torch.randn(1, 3, size, size, device=dev) for size in SIZES]
    with torch.no_grad():  # one untimed sweep: first-call costs of a process
        for x in inputs:
            models[CAPPED](x)
    rows, exponents = [], {}
    for label, model in models.items():
        seconds = []
        for x in inputs:
            with torch.no_grad():
                seconds.append(
                    median_time(lambda: model(x), dev, args.repeats))
        exponents[label] = fitted_exponent([s * s for s in SIZES], seconds)
        rows.append([label] + [f'{s * 1000:.0f} ms'
                               for s in seconds] + [f'{exponents[label]:.2f}'])
    print(table(['graph'] + [f'{s}px' for s in SIZES] + ['exponent'], rows))
    target('time ~ pixels^e exponent with capped shifts', exponents[CAPPED],
           EXPONENT_BOUND)


if __name__ == '__main__':
    main()
