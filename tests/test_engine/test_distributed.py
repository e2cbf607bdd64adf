"""Two-process (gloo) training and test through tools/dist_train.sh and
tools/dist_test.sh with mmvig's DDP wrapper."""
import glob
import json
import math
import os.path as osp
import random
import sys
import textwrap

import pytest
import torch

from mmvig.datasets import make_scene_set
from mmvig.testing import REPO_ROOT, TINY, run_in_checkout

DEMOS = {
    'det': ('configs/demo/mask_rcnn_attentionvig_s_scenes.py',
            'train_cfg = dict(max_epochs=1, val_interval=1)', 'epoch_1.pth',
            'coco/bbox_mAP'),
    'seg': ('configs/demo/fpn_attentionvig_s_scenes.py',
            'train_cfg = dict(max_iters=4, val_interval=4)\n'
            'default_hooks = dict(checkpoint=dict(interval=4))', 'iter_4.pth',
            'mIoU'),
}


def launch(script, *args, timeout=900):
    env = dict(
        PORT=str(random.randint(20000, 40000)),
        OMP_NUM_THREADS='1',
        PYTHON=sys.executable)
    result = run_in_checkout([f'tools/{script}', *args],
                             env=env,
                             timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


@pytest.mark.slow
@pytest.mark.parametrize('task', sorted(DEMOS))
def test_two_process_train_then_test(task, tmp_path):
    config, schedule, ckpt_name, metric = DEMOS[task]
    data = str(tmp_path / 'scenes')
    make_scene_set(data, num_train=8, num_val=4, image_size=(128, 96), seed=3)
    child = tmp_path / f'{task}.py'
    loader = (f"dict(batch_size=2, num_workers=0, persistent_workers=False, "
              f"dataset=dict(data_root='{data}/'))")
    child.write_text(
        textwrap.dedent(f"""
        _base_ = '{REPO_ROOT}/{config}'
        model = dict(backbone=dict(
            arch=dict(_delete_=True, **{TINY}), init_cfg=None),
            neck=dict(in_channels={TINY['widths']}))
        train_dataloader = {loader}
        val_dataloader = {loader}
        test_dataloader = {loader}
        """) + schedule + '\n' +
        (f"val_evaluator = dict(ann_file='{data}/annotations/"
         "instances_val.json')\ntest_evaluator = val_evaluator\n" if task ==
         'det' else ''))
    work = str(tmp_path / 'work')
    output = launch('dist_train.sh', str(child), '2', '--work-dir', work)
    assert 'Distributed training: True' in output, output[-3000:]
    assert 'GPU number: 2' in output
    assert 'FreezeBetaHook: froze 4 attention temperatures' in output
    checkpoints = glob.glob(osp.join(work, '*.pth'))
    assert [osp.basename(c) for c in checkpoints] == [ckpt_name]
    state = torch.load(
        checkpoints[0], map_location='cpu', weights_only=False)['state_dict']
    betas = {k: v for k, v in state.items() if k.endswith('log_beta')}
    initial = torch.tensor(math.log(10.0))
    assert len(betas) == 4
    assert all(torch.equal(v, initial) for v in betas.values()), betas

    out_file = str(tmp_path / 'metrics.json')
    launch('dist_test.sh', str(child), checkpoints[0], '2', '--work-dir', work,
           '--out', out_file)
    with open(out_file) as f:
        metrics = json.load(f)
    assert any(k.endswith(metric) for k in metrics), metrics
