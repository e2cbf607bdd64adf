"""What ``import mmvig`` costs: against ``import torch, timm`` for a timm
user, and against ``import mmdet.models`` for an mmdet user (mmvig registers
its classes themselves, which need torch and mmengine's models; an mmdet
user loads both with mmdet's models, before building any model).

Each statement runs in a fresh interpreter that times only the import (not
the interpreter's start); the statements take turns, one untimed round
first (file cache), and the median of the rounds is kept.

    python benchmarks/import_time.py [--repeats 7]
"""
import argparse
import statistics
import subprocess
import sys
from typing import Dict, List

from benchmark_utils import ROOT, device, machine, table, target

STATEMENTS = {
    'torch, timm': 'import torch, timm',
    'timm, mmvig (a timm user)': 'import timm, mmvig',
    'mmdet.models': 'import mmdet.models',
    'mmdet.models, mmvig': 'import mmdet.models, mmvig',
    'mmvig': 'import mmvig',
}
TIMM_BOUND, MMDET_BOUND = 1.3, 1.15


def time_import(statement: str) -> float:
    code = ('import time; start = time.perf_counter(); '
            f'{statement}; print(time.perf_counter() - start)')
    out = subprocess.run([sys.executable, '-c', code],
                         cwd=ROOT,
                         check=True,
                         capture_output=True,
                         text=True).stdout
    return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=7)
    args = parser.parse_args()
    print(f'import times; {machine(device("cpu"))}')
    for statement in STATEMENTS.values():  # untimed: warm the file cache
        time_import(statement)
    times: Dict[str, List[float]] = {label: [] for label in STATEMENTS}
    for _ in range(args.repeats):
        for label, statement in STATEMENTS.items():
            times[label].append(time_import(statement))
    median = {label: statistics.median(t) for label, t in times.items()}
    rows = [[
        f'import {label}', f'{median[label]:.2f} s',
        f'{min(times[label]):.2f}-{max(times[label]):.2f} s'
    ] for label in STATEMENTS]
    print(table(['statement', 'median', 'range'], rows))
    target('import timm, mmvig / import torch, timm',
           median['timm, mmvig (a timm user)'] / median['torch, timm'],
           TIMM_BOUND)
    target('import mmdet.models, mmvig / import mmdet.models',
           median['mmdet.models, mmvig'] / median['mmdet.models'], MMDET_BOUND)


if __name__ == '__main__':
    main()
