"""The benchmark scripts' helpers (benchmarks.benchmark_utils) and the GPU
benchmark's smoke run (the benchmarks themselves: make bench)."""
import argparse
import os
import os.path as osp

import pytest
import torch

from benchmarks.benchmark_utils import (HUGE_PAGE_ALLOCATOR, RESULT_PREFIX,
                                        build_backbone, coco_backbone_cfg,
                                        fitted_exponent, in_fresh_process,
                                        malloc_in_use_peak, table)
from benchmarks.fold_peers import fold_batchnorm_after_conv
from mmvig.testing import run_tool


@pytest.mark.parametrize('exponent', [0.8, 1.0, 1.37])
def test_fitted_exponent_recovers_a_power_law(exponent):
    pixels = [224.0**2, 448.0**2, 896.0**2]
    seconds = [3e-7 * p**exponent for p in pixels]
    assert fitted_exponent(pixels, seconds) == pytest.approx(exponent)


def test_benchmarked_backbones_follow_the_coco_configs():
    cfg = coco_backbone_cfg('attentionvig', 'b')
    assert cfg['arch'] == 'b' and cfg['graph_strides'] == 2
    assert cfg['max_shifts'] is None and cfg['with_cp'] is True
    assert 'init_cfg' not in cfg and cfg['norm_cfg']['type'] == 'BN'
    model = build_backbone('attentionvig-s:{"with_cp": false}')
    assert model.with_cp == [False] * 4 and model.graph_strides == [2] * 4
    model = build_backbone('sagvit-small')
    assert type(model).__name__ == 'SAGViT'
    assert model.arch_settings['trunk'] == 'b0' and model.out_indices == (0, 1,
                                                                          2, 3)


def test_table_aligns_columns():
    lines = table(('a', 'bb'), [('xxx', 1)]).splitlines()
    assert len({len(line) for line in lines}) == 1


def test_fresh_process_runs_in_the_allocator_environment(tmp_path):
    """train_step.py measures each model under glibc's defaults and under
    HUGE_PAGE_ALLOCATOR: the worker process must see exactly that setting."""
    probe = tmp_path / 'probe.py'
    probe.write_text(
        'import json, os\n'
        f'print({RESULT_PREFIX!r} + json.dumps('
        f'{{k: os.environ.get(k) for k in {sorted(HUGE_PAGE_ALLOCATOR)}}}))\n')
    args = argparse.Namespace(device='cpu', repeats=1)
    assert in_fresh_process(
        str(probe), 'probe', args,
        env=HUGE_PAGE_ALLOCATOR) == HUGE_PAGE_ALLOCATOR
    assert in_fresh_process(str(probe), 'probe', args) == {
        k: os.environ.get(k)
        for k in HUGE_PAGE_ALLOCATOR
    }


def test_malloc_in_use_peak_counts_a_tensor_freed_inside_the_block():
    with malloc_in_use_peak() as small:
        torch.ones(10).sum()
    with malloc_in_use_peak() as large:
        torch.ones(50_000_000).sum()  # 200 MB, gone when the block ends
    assert large[0] - small[0] == pytest.approx(0.2, abs=0.02)


@pytest.mark.slow
def test_gpu_benchmark_runs_end_to_end_at_toy_sizes():
    """benchmarks/gpu.py waits for the first session with a GPU: its smoke
    run takes every part through the same code on the CPU (the Triton
    kernels in the interpreter), so that session's minutes go to measuring."""
    out = run_tool(osp.join('benchmarks', 'gpu.py'), '--smoke', timeout=None)
    for header in ('Triton fwd+bwd ms', 'max allocated GB', 'eager img/s'):
        assert header in out
    assert 'outputs and q/k/v gradients within 1e-4, beta gradient within ' \
           '1e-3 (1 = yes): 1 >= 1 -> met' in out
    assert out.count('target: ') == 3


def test_batchnorm_after_conv_folds_exactly_in_resnet():
    """The reference models get the folding mmvig's models do."""
    from mmpretrain.models import ResNet
    from torch.nn.modules.batchnorm import _BatchNorm
    torch.manual_seed(0)
    model = ResNet(depth=18)
    model.eval()  # mmpretrain's ResNet.train() returns None
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)[-1]
        assert fold_batchnorm_after_conv(model, x) == 20
        assert not any(isinstance(m, _BatchNorm) for m in model.modules())
        torch.testing.assert_close(
            model(x)[-1], expected, rtol=1e-4, atol=1e-4)
