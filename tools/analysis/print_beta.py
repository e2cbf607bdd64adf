"""Print the learned temperature beta of every Grapher (the paper's Table 8).

Reads any mmvig checkpoint that holds AttentionViG weights: an ImageNet
classifier (mmpretrain or timm), a Mask R-CNN detector (mmdet), a Semantic
FPN segmentor (mmseg) or a bare backbone. When a checkpoint holds EMA weights
too, the EMA ones are printed (the weights the downstream configs load), or
the trained ones with ``--weights raw``.

    python tools/analysis/print_beta.py CHECKPOINT
    python tools/analysis/print_beta.py CHECKPOINT --csv > betas.csv
    python tools/analysis/print_beta.py CHECKPOINT --compare-paper

``--compare-paper`` prints the paper's Table 8 beside an AttentionViG-S
checkpoint's betas (two Graphers in each of the four stages).
"""
import argparse
import csv
import math
import re
import sys
from typing import List, NamedTuple

import mmvig  # noqa: F401  (registers the checkpoint types)
from mmvig.apis import report_input_errors
from mmvig.models.pretrained import WEIGHTS, select_weights
from mmvig.ops.svga_attention import LOG_BETA_RANGE
from mmvig.safe_load import load_checkpoint_file

# ``...stages.<stage>.<block>.aggregate.branch.log_beta``: the Grapher's
# cross-attention temperature, any prefix (backbone., module., none).
_KEY = re.compile(
    r'(?:^|\.)stages\.(\d+)\.(\d+)\.aggregate\.branch\.log_beta$')

# The paper's Table 8: beta of AttentionViG-S after ImageNet-1k training,
# (stage, Grapher) -> beta.
PAPER_TABLE8 = {
    (1, 1): 6.79,
    (1, 2): 29.88,
    (2, 1): 23.72,
    (2, 2): 10.96,
    (3, 1): 6.63,
    (3, 2): 7.08,
    (4, 1): 5.33,
    (4, 2): 4.92
}


class Temperature(NamedTuple):
    stage: int  # 1-based
    grapher: int  # 1-based within the stage
    block: int  # index of the Grapher among the stage's modules
    key: str
    log_beta: float

    @property
    def clamped(self) -> bool:
        """Whether the model clamps this log_beta (it uses the bound)."""
        low, high = LOG_BETA_RANGE
        return not low <= self.log_beta <= high

    @property
    def beta(self) -> float:
        """The beta the model uses: exp(log_beta), log_beta clamped."""
        low, high = LOG_BETA_RANGE
        return math.exp(min(max(self.log_beta, low), high))


def temperatures(state_dict: dict) -> List[Temperature]:
    """Every Grapher temperature of a state dict, in stage and block order."""
    found = sorted((int(m[1]), int(m[2]), key) for key in state_dict
                   if (m := _KEY.search(key)))
    rows: List[Temperature] = []
    for stage, block, key in found:
        grapher = 1 + sum(1 for r in rows if r.stage == stage + 1)
        rows.append(
            Temperature(stage + 1, grapher, block, key,
                        float(state_dict[key])))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='an mmvig checkpoint (.pth)')
    parser.add_argument(
        '--csv',
        action='store_true',
        help='write CSV (stage, grapher, block, key, '
        'log_beta, beta) to stdout')
    parser.add_argument(
        '--weights',
        choices=WEIGHTS,
        default='auto',
        help="'auto': EMA weights when present (default)")
    parser.add_argument(
        '--compare-paper',
        action='store_true',
        help="the paper's Table 8 (AttentionViG-S) beside "
        'each beta')
    args = parser.parse_args()

    state_dict, which = select_weights(
        load_checkpoint_file(args.checkpoint), args.weights)
    rows = temperatures(state_dict)
    if not rows:
        sys.exit(f'{args.checkpoint}: no AttentionViG temperature '
                 '(no key ending in stages.<i>.<j>.aggregate.branch.log_beta)'
                 '; is it an AttentionViG checkpoint with cross-attention?')
    layout = sorted((r.stage, r.grapher) for r in rows)
    if args.compare_paper and layout != sorted(PAPER_TABLE8):
        sys.exit(f"{args.checkpoint}: --compare-paper needs AttentionViG-S's "
                 'layout, two Graphers in each of stages 1-4 (the paper\'s '
                 f'Table 8); this checkpoint has {len(rows)} temperatures: '
                 f'{layout}')
    paper = [
        PAPER_TABLE8[(r.stage, r.grapher)] if args.compare_paper else None
        for r in rows
    ]
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(
            ['stage', 'grapher', 'block', 'key', 'log_beta', 'beta'] +
            (['paper_beta'] if args.compare_paper else []))
        for r, p in zip(rows, paper):
            writer.writerow([
                r.stage, r.grapher, r.block, r.key, f'{r.log_beta:.6g}',
                f'{r.beta:.6g}'
            ] + ([p] if p is not None else []))
        return
    print(f'{args.checkpoint}: {len(rows)} temperatures, the {which}')
    print(f'{"stage":>5}  {"grapher":>7}  {"block":>5}  {"beta":>9}' +
          (f'  {"paper (Table 8)":>15}  {"ratio":>6}' if args.
           compare_paper else ''))
    for r, p in zip(rows, paper):
        note = (f'  (clamped: log_beta {r.log_beta:.6g} is outside '
                f'{list(LOG_BETA_RANGE)})' if r.clamped else '')
        compared = f'  {p:>15.2f}  {r.beta / p:>6.2f}' if p is not None \
            else ''
        print(f'{r.stage:>5}  {r.grapher:>7}  {r.block:>5}  '
              f'{r.beta:>9.4f}{compared}{note}')


if __name__ == '__main__':
    with report_input_errors():
        main()
