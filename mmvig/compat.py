"""What mmvig's own tools change in mmengine 0.10.7, for their run only.

``import mmvig`` changes nothing here: these apply inside
:func:`tool_environment`, which ``tools/train.py``, ``tools/test.py`` and
``tools/demo.py`` enter around their work.

- mmengine 0.10.7 starts every ``pytorch``-launched process with
  ``torch.cuda.set_device``, which fails on a machine without CUDA; within
  the block the process group is initialised without it there (gloo on
  CPUs), and GPU machines are left to mmengine.
- ``mmdet::``-style base configs make mmengine import ``pkg_resources``
  (from ``setuptools<82``, a declared dependency of mmvig), whose
  deprecation warning says nothing to the user; it is silenced in the block.
"""
import contextlib
import pickle
import sys
import warnings
from typing import Callable, Iterator

import torch
import torch.distributed as torch_dist


def _init_dist_pytorch_without_cuda(original):
    def init(backend: str, init_backend: str = 'torch', **kwargs) -> None:
        if torch.cuda.is_available() or init_backend != 'torch':
            original(backend, init_backend=init_backend, **kwargs)
        else:
            torch_dist.init_process_group(backend=backend, **kwargs)
    return init


@contextlib.contextmanager
def tool_environment() -> Iterator[None]:
    """mmengine as mmvig's tools need it, restored on exit."""
    import mmengine.dist.utils as dist_utils
    original = dist_utils._init_dist_pytorch
    dist_utils._init_dist_pytorch = _init_dist_pytorch_without_cuda(original)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='pkg_resources is '
                                    'deprecated', category=UserWarning)
            yield
    finally:
        dist_utils._init_dist_pytorch = original


def input_errors() -> tuple:
    """The errors that describe the user's input (a wrong argument, file or
    data set, a name clash) or a run that diverged: a tool prints them as
    one message."""
    from .errors import DivergenceError, InputError
    from .registry import RegistrationClash
    return InputError, FileNotFoundError, RegistrationClash, DivergenceError


def error_message(error: BaseException) -> str:
    """An input error's own words: a data loader worker's error comes back
    wrapped in the worker's traceback, whose last line holds them."""
    text = str(error)
    if 'Original Traceback' in text:
        last = text.rstrip().splitlines()[-1]
        text = last.split(': ', 1)[1] if ': ' in last else last
    return text


def run_tool(main: Callable[[], None]) -> None:
    """Run a tool's ``main`` in :func:`tool_environment`; an error about the
    user's input (:func:`input_errors`, or a refused checkpoint) ends the
    process with its message, not a traceback."""
    try:
        with tool_environment():
            main()
    except input_errors() + (pickle.UnpicklingError, ) as error:
        sys.exit(f'error: {error_message(error)}')
