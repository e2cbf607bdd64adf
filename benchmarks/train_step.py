"""Backbone training step at detection resolution against ResNet-50.

One forward + backward pass of the backbone alone, batch 1, 800x1344 (a COCO
image resized to 1333x800 and padded to a multiple of 32), each model in a
fresh process so that its peak memory is its own (RSS on the CPU, allocated
memory on a GPU). AttentionViG and SAG-ViT are built with the backbone
settings of ``configs/mask_rcnn_<model>_<arch>_coco.py`` (AttentionViG: the
paper's SVGA stride 2, activation checkpointing as configured); ResNet-50 is
mmpretrain's. SAG-ViT rows are measured for reference, with no target. The
memory target reads the peak of memory in use: on a GPU the allocated
memory, on the CPU "malloc in use" (``benchmark_utils.malloc_in_use_peak``, one
more step, sampled after every op: what the process held at most, heap free
space not counted, the CPU counterpart of ``max_memory_allocated``). Peak
resident memory is printed for information; "saved for backward" (what
autograd holds between the passes, by storage) shows how much of the memory
is activations.

On the CPU every model is measured twice, in process environments that
differ only in the allocator: glibc's defaults, and large tensors on their
own huge-page mappings (``benchmark_utils.HUGE_PAGE_ALLOCATOR``). With the
defaults the resident set is the high-water mark of glibc's heap, which grows
past the live tensors when small allocations split the holes that freed
activations leave; with the second setting it follows the live tensors.
Both are printed.

    python benchmarks/train_step.py [--device cpu|cuda] [--repeats 3]
"""
import argparse
import contextlib
import json

import torch
from benchmark_utils import (HUGE_PAGE_ALLOCATOR, build_backbone, device,
                             in_fresh_process, machine, malloc_in_use_peak,
                             median_time, parser, peak_memory_gb, report,
                             saved_for_backward, table, target)

HEIGHT, WIDTH = 800, 1344
MODELS = {
    'ResNet-50 (mmpretrain)':
    'resnet50',
    'AttentionViG-S':
    'attentionvig-s',
    'AttentionViG-M':
    'attentionvig-m',
    'AttentionViG-B':
    'attentionvig-b',
    'AttentionViG-S, no checkpointing':
    'attentionvig-s:' + json.dumps(dict(with_cp=False)),
    'SAG-ViT small':
    'sagvit-small',
    'SAG-ViT base':
    'sagvit-base',
}
REFERENCE = 'ResNet-50 (mmpretrain)'
# (model, peak memory bound, time bound), both relative to ResNet-50.
TARGETS = [('AttentionViG-S', 1.0, 1.5), ('AttentionViG-B', 1.0, 1.5)]


def worker(name: str, args) -> None:
    dev = device(args.device)
    torch.manual_seed(0)
    model = build_backbone(name).to(dev)
    model.train()  # mmpretrain's ResNet.train() returns None
    x = torch.randn(1, 3, HEIGHT, WIDTH, device=dev)

    def step():
        model.zero_grad(set_to_none=True)
        outs = model(x)
        sum(o.float().mean() for o in outs).backward()

    seconds = median_time(step, dev, args.repeats)
    result = dict(seconds=seconds, memory_gb=peak_memory_gb(dev))
    if args.breakdown:  # one more step, after the peak was read
        in_use = (
            malloc_in_use_peak()
            if dev.type == 'cpu' else contextlib.nullcontext([float('nan')]))
        with in_use as in_use_gb:
            with saved_for_backward() as saved:
                outs = model(x)
            sum(o.float().mean() for o in outs).backward()
        result.update(
            saved_gb=sum(saved.values()) / 1e9, in_use_gb=in_use_gb[0])
    report(result)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    # Worker side: also measure "saved for backward" and "malloc in use"
    # (asked of the first allocator setting only, whose columns show them).
    p.add_argument('--breakdown', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args.worker, args)
    dev = device(args.device)
    print(f'backbone training step, batch 1, {HEIGHT}x{WIDTH}; '
          f'{machine(dev)}')
    settings = {'': None}
    if dev.type == 'cpu':
        settings = {' (glibc)': None, ' (huge pages)': HUGE_PAGE_ALLOCATOR}
    default = next(iter(settings))
    results = {
        (label, setting):
        in_fresh_process(
            __file__,
            name,
            args,
            env=env,
            extra=['--breakdown'] if setting == default else [])
        for label, name in MODELS.items()
        for setting, env in settings.items()
    }
    header, rows = ['backbone'], []
    for setting in settings:
        header += [
            f'peak memory{setting}', 'vs ResNet-50', f'time{setting}',
            'vs ResNet-50'
        ]
    header.append('saved for backward')
    if dev.type == 'cpu':
        header.append('malloc in use (peak)')
    for label in MODELS:
        row = [label]
        for setting in settings:
            r, ref = results[label, setting], results[REFERENCE, setting]
            row += [
                f'{r["memory_gb"]:.2f} GB',
                f'{r["memory_gb"] / ref["memory_gb"]:.2f}x',
                f'{r["seconds"]:.2f} s',
                f'{r["seconds"] / ref["seconds"]:.2f}x'
            ]
        row.append(f'{results[label, default]["saved_gb"]:.2f} GB')
        if dev.type == 'cpu':
            row.append(f'{results[label, default]["in_use_gb"]:.2f} GB')
        rows.append(row)
    print(table(header, rows))
    memory_key = 'in_use_gb' if dev.type == 'cpu' else 'memory_gb'
    memory_name = 'malloc in use (peak)' if dev.type == 'cpu' else \
        'allocated memory (peak)'
    for label, memory_bound, time_bound in TARGETS:
        r, ref = results[label, default], results[REFERENCE, default]
        target(f'{label} {memory_name} / ResNet-50',
               r[memory_key] / ref[memory_key], memory_bound)
        target(f'{label} time / ResNet-50', r['seconds'] / ref['seconds'],
               time_bound)


if __name__ == '__main__':
    main()
