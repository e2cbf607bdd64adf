"""tools/analysis: get_flops.py within the paper's bounds and print_beta.py's
beta rows."""
import math

import pytest

from mmvig.testing import run_tool


@pytest.mark.parametrize('log_beta,beta,clamped',
                         [(math.log(20.0), 20.0, False),
                          (12.0, math.exp(10.0), True),
                          (1e30, math.exp(10.0), True),
                          (-50.0, math.exp(-10.0), True)])
def test_print_beta_shows_the_beta_the_model_uses(log_beta, beta, clamped):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'print_beta', 'tools/analysis/print_beta.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    row = tool.Temperature(1, 1, 0, 'stages.0.0.aggregate.branch.log_beta',
                           log_beta)
    assert row.beta == pytest.approx(beta) and row.clamped == clamped


@pytest.mark.slow
def test_get_flops_table_within_paper_bounds():
    out = run_tool('tools/analysis/get_flops.py')
    rows = [line for line in out.splitlines() if line.startswith('configs/')]
    assert len(rows) == 14, out
    assert all(
        line.endswith('yes') for line in rows
        if line.startswith(('configs/attentionvig', 'configs/greedyvig',
                            'configs/mobilevig'))), out
    # SAG-ViT: measured only (no published figures); small < base.
    small, base = [
        float(line.split()[4]) for line in rows
        if line.startswith('configs/sagvit')
    ]
    assert 0 < small < base, out
    # The paper's Table 3 (vanilla ViG-Ti): every row within 5% of its GFLOPs.
    out = run_tool('tools/analysis/get_flops.py', '--table3')
    rows = [line for line in out.splitlines() if line.startswith('configs/')]
    assert len(rows) == 5 and all(line.endswith('yes') for line in rows), out
