"""The SVGA cross-attention operator alone against the plain loop, and the
optimised model against the reference implementation.

Operator: forward + backward at the stage-1 size of a 1333x800 COCO image
(batch 1, 48 channels = AttentionViG-S, 8 heads, a 200x336 map, the paper's
stride 2: 266 neighbours per node), each implementation in a fresh process:
time, peak memory of the process, and the bytes autograd keeps for the
backward pass. ``reference`` is the plain PyTorch loop over shifts.

Model: AttentionViG-S at 224 with the same weights, once with the optimised
operator and once with the reference loop; the stage outputs must agree
within 1e-5 relative in float32.

    python benchmarks/aggregation_op.py [--device cpu|cuda] [--repeats 3]
"""
import copy

import torch
from benchmark_utils import (device, in_fresh_process, machine, median_time,
                             parser, peak_memory_gb, report,
                             saved_for_backward, table, target)

CHANNELS, HEADS, HEIGHT, WIDTH, STRIDE = 48, 8, 200, 336, 2
EQUALITY_BOUND = 1e-5


def worker(impl: str, args) -> None:
    from mmvig.ops import svga_cross_attention
    from mmvig.ops.svga_graph import svga_shifts
    dev = device(args.device)
    torch.manual_seed(0)
    q, k, v = (
        torch.randn(
            1, CHANNELS, HEIGHT, WIDTH, device=dev, requires_grad=True)
        for _ in range(3))
    log_beta = torch.tensor(2.0, device=dev, requires_grad=True)
    shifts = svga_shifts(HEIGHT, WIDTH, STRIDE)

    def step():
        svga_cross_attention(
            q, k, v, log_beta, shifts, HEADS, impl=impl).sum().backward()

    seconds = median_time(step, dev, args.repeats)
    memory_gb = peak_memory_gb(dev)
    with saved_for_backward() as saved:
        out = svga_cross_attention(q, k, v, log_beta, shifts, HEADS, impl=impl)
    out.sum().backward()
    report(
        dict(
            seconds=seconds,
            memory_gb=memory_gb,
            saved_gb=sum(saved.values()) / 1e9,
            neighbours=shifts.num_neighbours))


def model_relative_difference(dev: torch.device) -> float:
    """Largest ``|optimised - reference| / max|reference|`` over the stage
    outputs of AttentionViG-S at 224 with the same weights."""
    import mmvig
    from mmvig.models.attention_vig import CrossAttentionAggregation
    torch.manual_seed(0)
    model = mmvig.AttentionViG(arch='s', layer_scale_init_value=1.0)
    model = model.to(dev).eval()
    reference = copy.deepcopy(model)
    for module in reference.modules():
        if isinstance(module, CrossAttentionAggregation):
            module.impl = 'reference'
    x = torch.randn(2, 3, 224, 224, device=dev)
    with torch.no_grad():
        pairs = zip(model(x), reference(x))
        return max(
            ((a - b).abs().max() / b.abs().max()).item() for a, b in pairs)


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    if args.worker:
        return worker(args.worker, args)
    dev = device(args.device)
    impls = ['auto', 'reference'
             ] if dev.type == 'cpu' else ['auto', 'torch', 'reference']
    labels = {
        'auto':
        'mmvig operator' +
        (' (Triton)' if dev.type == 'cuda' else ' (PyTorch)'),
        'torch':
        'mmvig operator (PyTorch path)',
        'reference':
        'plain loop over shifts'
    }
    print(f'SVGA cross-attention, forward + backward, 1x{CHANNELS}x{HEIGHT}x'
          f'{WIDTH}, {HEADS} heads, stride {STRIDE}; {machine(dev)}')
    results = {impl: in_fresh_process(__file__, impl, args) for impl in impls}
    ref = results['reference']
    rows = [(labels[impl], r['neighbours'], f'{r["seconds"]:.2f} s',
             f'{ref["seconds"] / r["seconds"]:.1f}x',
             f'{r["memory_gb"]:.2f} GB', f'{r["saved_gb"] * 1e3:.0f} MB')
            for impl, r in results.items()]
    print(
        table(('implementation', 'neighbours', 'time', 'speed-up',
               'peak memory', 'saved for backward'), rows))
    target(
        'optimised vs reference AttentionViG-S outputs, relative '
        'difference (fp32)', model_relative_difference(dev), EQUALITY_BOUND)


if __name__ == '__main__':
    main()
