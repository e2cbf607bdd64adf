"""What tools/train.py, tools/test.py and tools/demo.py share: arguments,
the config, the checkpoints a run names, the runner with mmvig's checks, and
mmengine as the tools need it. Errors reach the user through
:func:`mmvig.apis.report_input_errors`."""
import argparse
import contextlib
import datetime
import gc
import os
import os.path as osp
from typing import Iterator, List, Optional, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmvig.apis import read_config
from mmvig.engine import DataCheckHook, MMVigRunner, StrictLoadHook
from mmvig.errors import InputError
from mmvig.safe_load import weights_only_everywhere


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='the dir for logs and checkpoints')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse(parser: argparse.ArgumentParser,
          argv: Optional[List[str]] = None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(args: argparse.Namespace) -> Config:
    """The config with ``--cfg-options``, the launcher and the work dir."""
    cfg = read_config(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def finish(runner_holder: list) -> None:
    """End a run while the interpreter is whole: drop the runner (its DDP
    model holds the process group, which ``destroy_process_group`` alone
    leaves alive), then tear down the process group a distributed launch
    created. Left to interpreter shutdown, gloo's worker threads can abort
    the process (SIGABRT) after the run ended."""
    runner_holder.clear()
    gc.collect()
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
        gc.collect()


def build_runner(cfg: Config, partial_load: bool = False) -> Runner:
    """The config's runner, as mmvig's :class:`~mmvig.engine.MMVigRunner`
    (every checkpoint read by mmvig's safe loader; a resume's checked), with
    mmvig's checks: a checkpoint it loads must fit the model (unless
    ``partial_load``), and the data are checked once built."""
    start_cpu_process_group(cfg)
    runner = MMVigRunner.from_cfg(cfg)
    if not partial_load:
        runner.register_hook(StrictLoadHook())
    runner.register_hook(DataCheckHook())
    return runner


def start_cpu_process_group(cfg: Config) -> bool:
    """Start the process group of a ``--launcher pytorch`` run on a machine
    without CUDA; returns whether it did.

    mmengine's ``pytorch`` launcher starts each process with
    ``torch.cuda.set_device``, which fails without CUDA. Its ``Runner``
    starts a process group only when none exists (``Runner.setup_env``), so
    there the tools start it first, with the config's
    ``env_cfg.dist_cfg`` (``backend='gloo'`` on CPUs; ``timeout`` in
    seconds, as mmengine reads it). GPU machines are left to mmengine.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or \
            torch.cuda.is_available() or torch_dist.is_initialized():
        return False
    options = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    options.pop('init_backend', None)
    backend = options.pop('backend', 'nccl')
    if options.get('timeout') is not None:
        options['timeout'] = datetime.timedelta(seconds=options['timeout'])
    torch_dist.init_process_group(backend=backend, **options)
    return True


@contextlib.contextmanager
def tool_environment() -> Iterator[None]:
    """The training, test and demo tools' process: every ``torch.load`` is
    weights-only for the block (:func:`mmvig.safe_load.
    weights_only_everywhere`: the OneDL fork's mmengine would otherwise
    unpickle in full a file torch refuses). ``import mmvig`` changes nothing
    of the kind."""
    with weights_only_everywhere():
        yield


def _pretrained_paths(node, key: str) -> Iterator[Tuple[str, str]]:
    if isinstance(node, dict):
        if node.get('type') == 'Pretrained' and node.get('checkpoint'):
            yield f'{key}.checkpoint', node['checkpoint']
        for k, v in node.items():
            yield from _pretrained_paths(v, f'{key}.{k}')
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _pretrained_paths(v, f'{key}[{i}]')


def check_checkpoints(cfg: Config) -> None:
    """Fail early when a local ``Pretrained`` checkpoint or ``load_from`` is
    missing, naming the config key (URLs are left to the loader).

    Raises:
        FileNotFoundError: a local checkpoint path does not exist.
    """
    paths = list(_pretrained_paths(cfg.get('model', {}), 'model'))
    if cfg.get('load_from'):
        paths.append(('load_from', cfg.load_from))
    for key, path in paths:
        if '://' not in path and not osp.isfile(osp.expanduser(path)):
            raise FileNotFoundError(
                f'Checkpoint not found: {key} points to {path!r}. Train the '
                'ImageNet classifier first (configs/attentionvig_*_in1k.py) '
                'or set the path in the config.')


def check_last_checkpoint(work_dir: str) -> None:
    """Fail, naming the file, when the ``last_checkpoint`` record an
    automatic ``--resume`` reads from ``work_dir`` is empty or names a
    checkpoint that does not exist (no record at all: the run starts anew,
    as mmengine does).

    Raises:
        InputError: the record is empty or dangling.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return
    with open(record) as f:
        path = f.read().strip()
    if not path:
        raise InputError(
            f'{record} is empty, so --resume has no checkpoint to continue '
            f'from: pass --resume PATH, or delete {record} to start anew.')
    if '://' not in path and not osp.isfile(path):
        raise InputError(
            f'{record} names {path}, which does not exist: pass --resume '
            f'PATH with a checkpoint of this run, or delete {record} to start '
            'anew.')
