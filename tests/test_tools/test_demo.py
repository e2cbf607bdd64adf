"""tools/demo.py: the demo pipeline end to end at smoke size."""
import os.path as osp

import pytest

from mmvig.testing import run_tool


@pytest.mark.slow
@pytest.mark.demo
def test_demo_pipeline_smoke_run(tmp_path):
    """Both backbones through classifier -> Mask R-CNN -> Semantic FPN."""
    out = run_tool('tools/demo.py', '--small', '--backbones',
                   'attentionvig', 'sagvit', '--work-dir',
                   str(tmp_path / 'work'), '--data-root',
                   str(tmp_path / 'data'))
    table = out[out.rindex('metric'):]
    for label in ('top-1 (%)', 'bbox mAP (%)', 'segm mAP (%)', 'mIoU (%)'):
        for model in ('AttentionViG-S', 'SAG-ViT-small'):
            assert any(label in line and model in line
                       for line in table.splitlines()), table
    assert 'wall time per stage: AttentionViG-S cls' in table
    assert osp.isfile(tmp_path / 'work' / 'fpn_sagvit_small_scenes' /
                      'iter_20.pth')
