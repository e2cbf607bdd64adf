"""The SVGA Triton kernels compiled ahead of time for sm_80 and sm_90: what
the hardware will do, without a GPU.

Every launch of the operator's forward and backward pass at the stage shapes
of AttentionViG-S and -B (8 heads, SVGA stride 2) at 224 and at 800x1344 (a
1333x800 COCO image after mmdet's padding) is compiled for the A100 (sm_80)
and the H100/H200 (sm_90) with the ``ptxas`` inside the triton wheel, with the
specialisation the runtime would choose. Per configuration it prints the
kernels' registers per thread, spill bytes, shared memory, and the SASS
instructions of the inner loop per edge (one node-neighbour-head pair):
``sum over launches of programs x iterations x loop instructions x warps``
divided by the edges, so padding counts against the kernel. Beside them, the
figures of the per-neighbour kernels these replaced, measured the same way
before the change (``triton_static_baseline.json``). ``mean`` runs the
``none`` kernels.

    python benchmarks/triton_static.py [--jobs 2] [--json FILE]
"""
import argparse
import json
import math
import os
import os.path as osp
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List, NamedTuple, Tuple

# Ahead-of-time compilation needs the JIT kernels, not interpreted ones.
os.environ.pop('TRITON_INTERPRET', None)

from benchmark_utils import table, target  # noqa: E402

HERE = osp.dirname(osp.abspath(__file__))
BASELINE = osp.join(HERE, 'triton_static_baseline.json')
MODELS = {'s': 48, 'b': 64}
HEADS, STRIDE, BATCH = 8, 2, 2
SIZES = {'224': (224, 224), '800x1344': (800, 1344)}
NORMALIZATIONS = ('none', 'softmax')
PASSES = ('forward', 'backward')
INSTRUCTION_GAIN = 4.0


class Config(NamedTuple):
    model: str
    size: str
    stage: int
    normalize: str
    pass_: str

    @property
    def key(self) -> str:
        return (f'{self.model} {self.size} stage{self.stage} '
                f'{self.normalize} {self.pass_}')

    def shape(self) -> Tuple[int, ...]:
        height, width = SIZES[self.size]
        scale = 2**(self.stage + 1)
        channels = MODELS[self.model] * 2**(self.stage - 1)
        return (BATCH, HEADS, channels // HEADS, -(-height // scale),
                -(-width // scale))


def configs() -> List[Config]:
    return [
        Config(m, s, stage, n, p) for m in MODELS for s in SIZES
        for stage in range(1, 5) for n in NORMALIZATIONS for p in PASSES
    ]


def _launches(config: Config):
    from mmvig.ops.svga_attention.triton_kernels import launches
    from mmvig.ops.svga_graph import svga_shifts
    shape = config.shape()
    shifts = svga_shifts(shape[3], shape[4], STRIDE)
    return launches(
        shape, shifts, config.normalize, backward=config.pass_ == 'backward')


def _specialisation(launch) -> Tuple:
    """What the compiled code depends on: constexprs exactly, runtime
    integers by their divisibility by 16."""
    constexprs = {p.name for p in launch.kernel.params if p.is_constexpr}
    return (launch.kernel.__name__, ) + tuple(
        sorted((k, v if k in constexprs or k == 'num_warps' else v % 16 == 0)
               for k, v in launch.scalars.items()))


def _compile(config_index: int, launch_index: int):
    from mmvig.ops.triton_aot import compile_and_report, launch_arguments
    launch = _launches(configs()[config_index])[launch_index]
    return compile_and_report(launch.kernel, launch_arguments(launch))


def compile_all(jobs: int) -> Dict[Config, List[Tuple[object, list]]]:
    """``config -> [(launch, [KernelReport per arch])]``, each distinct
    specialisation compiled once."""
    plans = {c: _launches(c) for c in configs()}
    unique: Dict[Tuple, Tuple[int, int]] = {}
    for ci, config in enumerate(configs()):
        for li, launch in enumerate(plans[config]):
            unique.setdefault(_specialisation(launch), (ci, li))
    with ProcessPoolExecutor(jobs) as pool:
        futures = {
            key: pool.submit(_compile, *where)
            for key, where in unique.items()
        }
        reports = {key: future.result() for key, future in futures.items()}
    return {
        config: [(launch, reports[_specialisation(launch)])
                 for launch in plans[config]]
        for config in configs()
    }


def summarise(compiled) -> Dict[str, Dict]:
    """Per configuration and arch: instructions per edge, registers, spills,
    shared memory, kernels and their dot precisions."""
    out = {}
    for config, launches in compiled.items():
        edges = sum(launch.edges for launch, _ in launches
                    if 'grad_key' not in launch.kernel.__name__)
        for arch_index, arch in enumerate((80, 90)):
            instructions = regs = spills = shared = 0
            precisions = set()
            for launch, reports in launches:
                r = reports[arch_index]
                instructions += (
                    math.prod(launch.grid) * launch.iterations *
                    r.loop_instructions * r.num_warps)
                regs, shared = max(regs, r.registers), max(shared, r.shared)
                spills += r.spills
                precisions |= set(r.dot_precisions)
            out[f'{config.key} sm_{arch}'] = dict(
                per_edge=round(instructions / edges, 3),
                registers=regs,
                spills=spills,
                shared=shared,
                precisions=sorted(precisions),
                kernels=sorted({
                    launch.kernel.__name__.strip('_')
                    for launch, _ in launches
                }))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--jobs', type=int, default=os.cpu_count() or 1)
    p.add_argument('--json', help='also write the figures to this file')
    args = p.parse_args()
    import triton
    figures = summarise(compile_all(args.jobs))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(figures, f, indent=1)
    with open(BASELINE) as f:
        baseline = json.load(f)
    print(f'SVGA Triton kernels, ahead of time (triton {triton.__version__}); '
          f'baseline: {baseline["measured"]}')
    rows = []
    for config in configs():
        shape = config.shape()
        row = [
            config.model, config.size, config.stage,
            f'{shape[3]}x{shape[4]}, d={shape[2]}', config.normalize,
            config.pass_
        ]
        for arch in (80, 90):
            new = figures[f'{config.key} sm_{arch}']
            old = baseline['figures'][f'{config.key} sm_{arch}']
            row += [
                f'{new["registers"]} / {new["spills"]} / '
                f'{new["shared"] // 1024}K',
                f'{new["per_edge"]:.2f} ({old[0]:.2f}, '
                f'{old[0] / new["per_edge"]:.1f}x)'
            ]
        rows.append(row)
    print(
        table([
            'model', 'input', 'stage', 'map', 'norm', 'pass',
            'sm_80 regs / spills / smem', 'sm_80 instr/edge (before)',
            'sm_90 regs / spills / smem', 'sm_90 instr/edge (before)'
        ], rows))
    kernels = sorted({k for f in figures.values() for k in f['kernels']})
    print('kernels:', ', '.join(kernels))
    precisions = sorted({p for f in figures.values() for p in f['precisions']})
    print(
        'tl.dot input precision:', ', '.join(precisions),
        '(every product is three of them over a big + small split of its '
        'operands: float32 accuracy)')
    target('spill bytes, every launch on sm_80 and sm_90',
           max(f['spills'] for f in figures.values()), 0)
    for normalize in NORMALIZATIONS:
        for pass_ in PASSES:
            for arch in (80, 90):
                key = f's 800x1344 stage1 {normalize} {pass_} sm_{arch}'
                gain = baseline['figures'][key][0] / figures[key]['per_edge']
                target(
                    f'-S stage 1 at 800x1344, {normalize} {pass_}, '
                    f'sm_{arch}: inner-loop instructions per edge, '
                    'before / now',
                    gain,
                    INSTRUCTION_GAIN,
                    at_most=False)


if __name__ == '__main__':
    main()
