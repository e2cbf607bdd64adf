"""A resume's checkpoint: its ``meta`` checked (and its old config text
reduced to ``gpu_ids``) before mmengine's ``Runner.resume`` reads it."""
import contextlib
import contextvars
import re
from typing import Any, Iterator, Optional

from ..errors import InputError
from .stand_ins import _short

# The one use mmengine's resume makes of an old runner's ``meta['config']``
# text (mmcv 1's runner saved it; mmengine's saves ``meta['cfg']``): its
# ``gpu_ids``, read by executing the text. mmvig keeps only that line, read
# without executing anything.
_GPU_IDS = re.compile(
    r'^gpu_ids[ \t]*=[ \t]*(?:\[([0-9, ]*)\]|'
    r'range\([ \t]*([0-9]{1,6})[ \t]*,[ \t]*([0-9]{1,6})[ \t]*\))[ \t]*$',
    re.MULTILINE)


def _gpu_ids_only(config: str) -> Optional[str]:
    """``config`` reduced to its ``gpu_ids = [...]`` line (a list of ints
    or a ``range``, as mmcv wrote it), or None where it has none."""
    found = _GPU_IDS.search(config)
    if found is None:
        return None
    if found.group(1) is not None:
        ids = [int(i) for i in found.group(1).replace(',', ' ').split()]
    else:
        first = int(found.group(2))
        ids = list(range(first, min(int(found.group(3)), first + 65536)))
    return f'gpu_ids = {ids[:65536]!r}\n'


def check_resume_meta(checkpoint: Any, filename: str) -> None:
    """Refuse to resume from a checkpoint whose ``meta`` does not say where
    the run stopped as mmengine's runner writes it (``epoch`` and ``iter``
    non-negative integers; ``seed`` an integer, ``config`` text, when
    present; a ``message_hub`` dict): the runner would take any value and
    fail later, far from it. mmengine's resume executes ``meta['config']``
    as Python; this replaces it, in place, by its ``gpu_ids`` line alone
    (the one thing mmengine reads from it), or removes it.

    Raises:
        InputError: a plain state dict (weights only), or a ``meta`` entry
            of the wrong kind, naming the file and the entry.
    """
    if not isinstance(checkpoint, dict) or 'meta' not in checkpoint:
        raise InputError(
            f'{filename} holds weights only (no meta, optimizer or '
            'schedule): --resume continues a run from the checkpoint '
            "mmengine's runner saved. To start from these weights, pass "
            f'--cfg-options load_from={filename} without --resume.')
    meta = checkpoint['meta']

    def wrong(entry: str, value: Any, want: str) -> InputError:
        return InputError(
            f'{filename} cannot be resumed: its {entry} is {_short(value)}, '
            f'where a training checkpoint records {want}. The file is '
            'damaged or was not saved by a training run; to start from its '
            f'weights, pass --cfg-options load_from={filename} without '
            '--resume.')

    if not isinstance(meta, dict):
        raise wrong('meta', meta, 'a dict')
    for key in ('epoch', 'iter'):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or \
                value < 0:
            raise wrong(f"meta['{key}']", value, 'a non-negative integer')
    if meta.get('seed') is not None and (isinstance(meta['seed'], bool)
                                         or not isinstance(meta['seed'], int)):
        raise wrong("meta['seed']", meta['seed'], 'an integer')
    if 'config' in meta:
        if not isinstance(meta['config'], str):
            raise wrong("meta['config']", meta['config'], "the config's text")
        gpu_ids = _gpu_ids_only(meta['config'])
        if gpu_ids is None:
            del meta['config']
        else:
            meta['config'] = gpu_ids
    if not isinstance(checkpoint.get('message_hub'), dict):
        raise wrong("'message_hub'", checkpoint.get('message_hub'),
                    "the message hub's state (a dict)")


# Set while a runner resumes (see :func:`resuming`).
_RESUMING: 'contextvars.ContextVar[bool]' = contextvars.ContextVar(
    'mmvig_resuming', default=False)


@contextlib.contextmanager
def resuming() -> Iterator[None]:
    """Within the block, a checkpoint read through mmengine's loaders is a
    resume's: :func:`check_resume_meta` checks and rewrites its ``meta``
    before mmengine's ``Runner.resume`` reads it."""
    token = _RESUMING.set(True)
    try:
        yield
    finally:
        _RESUMING.reset(token)
