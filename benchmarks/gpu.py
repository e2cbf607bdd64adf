"""One-shot GPU benchmark: the SVGA operator, the backbone training step at
detection resolution and inference throughput, each against its reference
in the same run.

(a) Operator, Triton kernels against the PyTorch path, at the stage 1-4
    shapes of AttentionViG-S and -B at 800x1344 (batch 2, 8 heads, SVGA
    stride 2), in float32 and under bf16 autocast: forward, and forward +
    backward time; the largest relative difference of the output and the
    gradients; and the bound of the forward + backward pass, the larger of
    its bytes over the copy bandwidth and its FLOPs over the TF32 matmul
    rate, both measured in this run (the kernels issue three TF32 products
    for each; the FLOPs count the real head width, not its padding).
(b) Backbone training step (forward + backward, float32) at 800x1344, batch
    2, AttentionViG-S and -B as the COCO configs build them (with_cp as
    configured) and without checkpointing, against mmpretrain's ResNet-50:
    time and ``torch.cuda.max_memory_allocated``.
(c) Inference throughput at 224, batch 128: eager, and compiled with
    ``torch.compile(mode='reduce-overhead')`` (CUDA graphs capture the
    backbone, the SVGA kernels included).

Needs a CUDA machine with this repository's environment; about 4 minutes
on one H100. ``--smoke`` runs every part at toy sizes on the CPU (Triton's
interpreter for the kernels, no compiled mode): the tests use it to keep the
script working on machines without a GPU.

    python benchmarks/gpu.py [--smoke] [--parts operator train throughput]
"""
import argparse
import math
import os
import sys

if '--smoke' in sys.argv:  # before triton is imported
    os.environ.setdefault('TRITON_INTERPRET', '1')

import torch  # noqa: E402
from benchmark_utils import machine  # noqa: E402,E501
from benchmark_utils import build_backbone, median_time, table, target

HEADS, STRIDE, BATCH = 8, 2, 2
MODELS = {'AttentionViG-S': 48, 'AttentionViG-B': 64}
OPERATOR_BOUND = 3.0
# (model, time bound relative to ResNet-50)
TRAIN_TARGETS = [('AttentionViG-S', 1.0), ('AttentionViG-B', 1.5)]


class Sizes:
    """What each part measures: the real sizes, or toy ones (--smoke)."""

    def __init__(self, smoke: bool) -> None:
        self.smoke = smoke
        self.detection = (96, 128) if smoke else (800, 1344)
        # the interpreter runs a program at a time: a handful of them
        self.operator = (16, 32) if smoke else self.detection
        self.stages = (1, ) if smoke else (1, 2, 3, 4)
        self.operator_batch = 1 if smoke else BATCH
        self.classification = 96 if smoke else 224
        self.batch = 2 if smoke else 128
        self.repeats = 1 if smoke else 5
        self.models = ['AttentionViG-S'] if smoke else list(MODELS)


def peaks(dev: torch.device, smoke: bool):
    """``(bytes/s, FLOP/s)``: a device-to-device copy and a TF32 matmul."""
    n = 1 << (20 if smoke else 28)
    src, dst = torch.empty(n, device=dev), torch.empty(n, device=dev)
    copy = median_time(lambda: dst.copy_(src), dev, 5, warmup=2)
    size = 256 if smoke else 8192
    a, b = (torch.randn(size, size, device=dev) for _ in range(2))
    allow = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    matmul = median_time(lambda: a @ b, dev, 5, warmup=2)
    torch.backends.cuda.matmul.allow_tf32 = allow
    return 2 * n * 4 / copy, 2 * size**3 / matmul


def operator_bound(shape, shifts, bandwidth: float, flops: float) -> float:
    """Seconds the forward + backward pass needs at least: q, k, v, the
    output gradient and the output read, the three gradients written (and
    q, k, v read again by the backward pass); 2 products of ``d`` per edge
    forward, 7 backward, each three TF32 products."""
    batch, channels, height, width = shape
    edges = batch * HEADS * height * width * shifts.num_neighbours
    depth = channels // HEADS
    tensor_bytes = batch * channels * height * width * 4
    moved = tensor_bytes * (4 + 8)
    work = 3 * 2 * depth * edges * (2 + 7)
    return max(moved / bandwidth, work / flops)


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().float(), b.detach().float()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def operator_part(dev, sizes: Sizes, bandwidth: float, flops: float):
    from mmvig.ops import svga_cross_attention
    from mmvig.ops.svga_graph import svga_shifts
    rows, met = [], True
    height, width = sizes.operator
    for label in sizes.models:
        for stage in sizes.stages:
            scale = 2**(stage + 1)
            shape = (sizes.operator_batch, MODELS[label] * 2**(stage - 1),
                     -(-height // scale), -(-width // scale))
            shifts = svga_shifts(shape[2], shape[3], STRIDE)
            torch.manual_seed(0)
            q, k, v, grad = (torch.randn(shape, device=dev) for _ in range(4))
            log_beta = torch.tensor(math.log(20.), device=dev)
            for precision in ('float32', 'bf16 autocast'):
                autocast = precision != 'float32'
                results, times = {}, {}
                dtype = torch.bfloat16 if autocast else torch.float32
                for impl in ('triton', 'torch'):
                    # under autocast q, k, v come from bf16 convolutions
                    inputs = [t.to(dtype).requires_grad_() for t in (q, k, v)
                              ] + [log_beta.clone().requires_grad_()]

                    def forward():
                        with torch.autocast(
                                dev.type, torch.bfloat16, enabled=autocast):
                            return svga_cross_attention(
                                *inputs, shifts, HEADS, 'none', impl)

                    def step():
                        out = forward()
                        return out, torch.autograd.grad(
                            out, inputs, grad.to(out.dtype))

                    with torch.no_grad():
                        fwd = median_time(forward, dev, sizes.repeats)
                    both = median_time(step, dev, sizes.repeats)
                    out, grads = step()
                    results[impl], times[impl] = (out, *grads), (fwd, both)
                errors = [
                    relative(a, b)
                    for a, b in zip(results['triton'], results['torch'])
                ]
                bound = operator_bound(shape, shifts, bandwidth, flops)
                tri, ref = times['triton'], times['torch']
                rows.append([
                    label, stage, f'{shape[2]}x{shape[3]}', precision,
                    f'{tri[0] * 1e3:.3f}', f'{tri[1] * 1e3:.3f}',
                    f'{ref[0] * 1e3:.3f}', f'{ref[1] * 1e3:.3f}',
                    f'{bound * 1e3:.3f}', f'{tri[1] / bound:.1f}x',
                    f'{max(errors[:4]):.1e}', f'{errors[4]:.1e}'
                ])
                if not autocast:
                    met &= max(errors[:4]) <= 1e-4 and errors[4] <= 1e-3
                if (label, stage, precision) == ('AttentionViG-S', 1,
                                                 'float32'):
                    stage1 = tri[1] / bound
    print(
        table([
            'model', 'stage', 'map', 'precision', 'Triton fwd ms',
            'Triton fwd+bwd ms', 'PyTorch fwd ms', 'PyTorch fwd+bwd ms',
            'bound ms', 'Triton / bound', 'out, dq, dk, dv rel. diff',
            'dbeta rel. diff'
        ], rows))
    target(
        'float32 Triton vs PyTorch: outputs and q/k/v gradients within '
        '1e-4, beta gradient within 1e-3 (1 = yes)',
        float(met),
        1,
        at_most=False)
    target('-S stage 1 at 800x1344, forward + backward / bound', stage1,
           OPERATOR_BOUND)


def train_part(dev, sizes: Sizes) -> None:
    import json
    height, width = sizes.detection
    models = {'ResNet-50 (mmpretrain)': 'resnet50'}
    for label in sizes.models:
        name = 'attentionvig-' + label[-1].lower()
        models[label] = name
        models[label + ', no checkpointing'] = name + ':' + json.dumps(
            dict(with_cp=False))
    results = {}
    for label, name in models.items():
        torch.manual_seed(0)
        model = build_backbone(name).to(dev)
        model.train()
        x = torch.randn(BATCH, 3, height, width, device=dev)

        def step():
            model.zero_grad(set_to_none=True)
            sum(o.mean() for o in model(x)).backward()

        if dev.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(dev)
        seconds = median_time(step, dev, sizes.repeats)
        memory = (
            torch.cuda.max_memory_allocated(dev) /
            1e9 if dev.type == 'cuda' else float('nan'))
        results[label] = (seconds, memory)
        model = x = None  # frees its memory before the next model
        if dev.type == 'cuda':
            torch.cuda.empty_cache()
    reference = results['ResNet-50 (mmpretrain)']
    print(
        table([
            'backbone', 'step ms', 'vs ResNet-50', 'max allocated GB',
            'vs ResNet-50'
        ], [[
            label, f'{s * 1e3:.1f}', f'{s / reference[0]:.2f}x', f'{m:.2f}',
            f'{m / reference[1]:.2f}x'
        ] for label, (s, m) in results.items()]))
    for label, bound in TRAIN_TARGETS:
        if label in results:
            target(f'{label} training step time / ResNet-50 (COCO config)',
                   results[label][0] / reference[0], bound)


def throughput_part(dev, sizes: Sizes) -> None:
    from mmpretrain.models import ResNet

    import mmvig
    models = {'ResNet-50 (mmpretrain)': lambda: ResNet(depth=50)}
    for label in sizes.models:
        models[label] = (lambda arch: lambda: mmvig.AttentionViG(
            arch=arch, out_indices=(3, )))(
                label[-1].lower())
    size = sizes.classification
    x = torch.randn(sizes.batch, 3, size, size, device=dev)
    rows = []
    for label, build in models.items():
        model = build().to(dev)
        model.eval()  # mmpretrain's ResNet.train() returns None
        row = [label]
        modes = ['eager'] + ([] if sizes.smoke else ['compiled'])
        for mode in modes:
            run = model
            if mode == 'compiled':
                run = torch.compile(model, mode='reduce-overhead')
            with torch.no_grad():
                seconds = median_time(
                    lambda: run(x),
                    dev,
                    sizes.repeats,
                    warmup=3 if mode == 'compiled' else 1)
            row.append(f'{sizes.batch / seconds:.0f}')
        rows.append(row + ['skipped (smoke)'] * (2 - len(modes)))
    print(table(['model', 'eager img/s', 'compiled img/s'], rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        '--smoke',
        action='store_true',
        help='toy sizes on the CPU (checks the script runs)')
    p.add_argument(
        '--parts',
        nargs='+',
        default=['operator', 'train', 'throughput'],
        choices=['operator', 'train', 'throughput'])
    args = p.parse_args()
    sizes = Sizes(args.smoke)
    if not args.smoke and not torch.cuda.is_available():
        sys.exit('benchmarks/gpu.py needs a CUDA GPU (or --smoke for a toy '
                 'run on the CPU)')
    dev = torch.device('cpu' if args.smoke else 'cuda')
    print(f'GPU benchmark{" (smoke, toy sizes)" if args.smoke else ""}; '
          f'{machine(dev)}')
    if 'operator' in args.parts:
        bandwidth, flops = peaks(dev, args.smoke)
        print(f'measured: copy {bandwidth / 1e12:.2f} TB/s, TF32 matmul '
              f'{flops / 1e12:.0f} TFLOP/s')
        operator_part(dev, sizes, bandwidth, flops)
    if 'train' in args.parts:
        train_part(dev, sizes)
    if 'throughput' in args.parts:
        throughput_part(dev, sizes)


if __name__ == '__main__':
    main()
