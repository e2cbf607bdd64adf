"""A run killed while it writes a checkpoint, with one checkpoint kept,
still resumes: AtomicCheckpointHook writes the new file completely before it
deletes the old one (mmengine's CheckpointHook deletes first: the control)."""
import os
import os.path as osp
import textwrap

import pytest

from mmvig.testing import run_python

CHILD = textwrap.dedent("""
    import os, signal, sys
    import torch
    import mmvig
    from mmengine.runner import Runner
    from mmvig.testing import tiny_classification_config
    data, work, hook, epochs, kill = sys.argv[1:6]
    cfg = tiny_classification_config(data, work, epochs=int(epochs))
    cfg.default_hooks.checkpoint = dict(type=hook, interval=1,
                                        max_keep_ckpts=1)
    cfg.resume = os.path.isfile(os.path.join(work, 'last_checkpoint'))
    if kill != '-':
        from mmengine.fileio import LocalBackend
        saves, real_put = [], LocalBackend.put
        def dying_put(self, obj, filepath):
            if '.pth' in str(filepath):
                saves.append(filepath)
                if len(saves) == int(kill):  # half the file, then SIGKILL
                    real_put(self, obj[:len(obj) // 2], filepath)
                    os.kill(os.getpid(), signal.SIGKILL)
            return real_put(self, obj, filepath)
        LocalBackend.put = dying_put
    runner = Runner.from_cfg(cfg)
    runner.train()
    print('finished at epoch', runner.train_loop.epoch)
    """)


def _run(*args):
    return run_python('-c', CHILD, *args, timeout=900)


@pytest.mark.parametrize('hook', ['AtomicCheckpointHook', 'CheckpointHook'])
@pytest.mark.long
def test_kill_mid_save_with_one_kept_checkpoint(hook, shapes, tmp_path):
    work = str(tmp_path / 'work')
    killed = _run(shapes, work, hook, 3, 2)  # dies writing epoch 2
    assert killed.returncode == -9, killed.stderr[-2000:]
    files = sorted(os.listdir(work))
    if hook == 'CheckpointHook':  # mmengine: epoch_1 deleted, epoch_2 cut
        assert 'epoch_1.pth' not in files, files
        return
    assert 'epoch_1.pth' in files and 'epoch_2.pth' not in files, files
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().endswith('epoch_1.pth')
    resumed = _run(shapes, work, hook, 3, '-')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'finished at epoch 3' in resumed.stdout
    assert f'from path: {work}/epoch_1.pth' in resumed.stdout
    files = sorted(os.listdir(work))
    assert 'epoch_3.pth' in files and 'epoch_1.pth' not in files, files
    assert not [
        f for f in files
        if f.endswith('.partial') and not f.startswith('epoch_2')
    ], files
