"""Test session setup and the generated data sets shared by the test files."""
import math
import os

import pytest
import torch
from checkpoint_fuzz import Reduce

# Without a GPU the Triton kernels run in Triton's interpreter, so the GPU
# path is tested here too. Set before any kernel is compiled (decorated).
if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')


def pytest_addoption(parser):
    parser.addoption(
        '--fuzz-minutes',
        type=float,
        default=0,
        help='run the checkpoint fuzzer this long '
        '(tests/test_safe_load_fuzz.py; a release check)')


@pytest.fixture(scope='session')
def shapes(tmp_path_factory):
    """A small shapes classification set (ImageNet folder layout)."""
    from mmvig.datasets import make_classification_set
    root = str(tmp_path_factory.mktemp('shapes'))
    make_classification_set(
        root, train_per_class=6, val_per_class=2, image_size=72, seed=1)
    return root


@pytest.fixture(scope='session')
def scenes(tmp_path_factory):
    """A small scenes set (COCO json and segmentation masks)."""
    from mmvig.datasets import make_scene_set
    root = str(tmp_path_factory.mktemp('scenes'))
    make_scene_set(root, num_train=8, num_val=4, image_size=(128, 96), seed=1)
    return root


@pytest.fixture(scope='session')
def tiny_runs(tmp_path_factory, shapes, scenes):
    """A tiny trained classifier, Mask R-CNN and Semantic FPN (the demo
    pipeline with the TINY AttentionViG): task -> (config file, checkpoint)."""
    from mmengine.runner import Runner

    from mmvig.apis import read_config
    from mmvig.testing import tiny_task_config
    root = tmp_path_factory.mktemp('tiny_runs')
    runs = {}
    for task, last in (('cls', 'epoch_1'), ('det', 'epoch_1'), ('seg',
                                                                'iter_2')):
        config = tiny_task_config(root, task,
                                  shapes if task == 'cls' else scenes)
        cfg = read_config(config)
        cfg.work_dir = str(root / task)
        cfg.log_level = 'WARNING'
        # mmengine keeps one visualizer per name in a process, with the log
        # dir of the run that made it: a name of its own for this run.
        cfg.visualizer.name = f'tiny_runs_{task}'
        Runner.from_cfg(cfg).train()
        runs[task] = (config, str(root / task / f'{last}.pth'))
    return runs


@pytest.fixture
def bad_checkpoints(tmp_path):
    """Files that are not checkpoints, and checkpoints with a bad value."""
    import mmvig
    from mmvig.testing import TINY
    paths = {}
    for seed in range(3):  # garbage makes the unpickler fail in many ways
        paths[f'random bytes {seed}'] = tmp_path / f'random{seed}.pth'
        paths[f'random bytes {seed}'].write_bytes(
            torch.randint(
                0,
                256, (4096, ),
                dtype=torch.uint8,
                generator=torch.Generator().manual_seed(
                    seed)).numpy().tobytes())
    paths['text'] = tmp_path / 'notes.pth'
    paths['text'].write_text('not a checkpoint\n')
    paths['empty'] = tmp_path / 'empty.pth'
    paths['empty'].write_bytes(b'')
    state = mmvig.AttentionViG(TINY).state_dict()
    for name, value in (('NaN log_beta', math.nan), ('inf log_beta',
                                                     math.inf)):
        bad = dict(state)
        bad['stages.1.2.aggregate.branch.log_beta'] = torch.tensor(value)
        paths[name] = tmp_path / f'{name.split()[0]}.pth'
        torch.save({'state_dict': bad}, paths[name])
    other = mmvig.AttentionViG(dict(TINY, widths=[16, 32, 64, 256]))
    paths['another arch'] = tmp_path / 'other.pth'
    torch.save({'state_dict': other.state_dict()}, paths['another arch'])
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture
def malicious(tmp_path):
    """A checkpoint with real weights of the tiny AttentionViG and a payload
    in its meta; returns (path, marker file that the payload would create)."""
    import mmvig
    from mmvig.testing import TINY
    marker = str(tmp_path / 'payload_ran')
    path = str(tmp_path / 'malicious.pth')
    torch.save(
        {
            'state_dict': mmvig.AttentionViG(TINY).state_dict(),
            'meta': {
                'note': Reduce(os.system, (f'touch {marker}', ))
            }
        }, path)
    return path, marker
