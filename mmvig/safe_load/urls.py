"""Checkpoints by URL and mmengine scheme: downloaded or copied to a local
file, then read by :func:`~mmvig.safe_load.loader.load_checkpoint_file`
with every check a local file gets."""
import os
import os.path as osp
from typing import Any

import torch

from ..errors import InputError
from .loader import load_checkpoint_file
from .stand_ins import _short

# The schemes mmengine resolves to a download URL, and how.
_TORCHVISION = ('torchvision://', 'modelzoo://')
_OPENMMLAB = ('open-mmlab://', 'openmmlab://')


def _url_of(filename: str) -> str:
    """The URL (or, for some ``open-mmlab://`` names, the local path) that
    mmengine's loaders read for ``filename``."""
    from mmengine.runner import checkpoint as mmengine_checkpoint
    for prefixes, table in ((_TORCHVISION,
                             mmengine_checkpoint.get_torchvision_models),
                            (_OPENMMLAB,
                             mmengine_checkpoint.get_external_models)):
        prefix = next((p for p in prefixes if filename.startswith(p)), None)
        if prefix is None:
            continue
        name = filename[len(prefix):]
        if prefixes is _OPENMMLAB:
            name = mmengine_checkpoint.get_deprecated_model_names().get(
                name, name)
        urls = table()
        if name not in urls:
            raise InputError(f'{filename}: mmengine knows no model {name!r} '
                             f'under {prefix} (known: '
                             f'{_short(sorted(urls), 120)})')
        url = urls[name]
        if url.startswith(('http://', 'https://')):
            return url
        home = os.getenv(
            'MMENGINE_HOME',
            osp.join(os.getenv('XDG_CACHE_HOME', '~/.cache'), 'mmengine'))
        return osp.join(osp.expanduser(home), url)
    return filename


def _download(url: str) -> str:
    """The local copy of ``url`` in torch's hub cache (where mmengine's and
    torch's ``load_url`` keep it), downloaded once: by the first process of
    each node, the others waiting at a barrier."""
    from urllib.parse import urlparse

    from mmengine.dist import get_dist_info
    cached = osp.join(torch.hub.get_dir(), 'checkpoints',
                      osp.basename(urlparse(url).path))
    rank, world_size = get_dist_info()
    local_rank = int(os.environ.get('LOCAL_RANK', rank))
    for turn in (True, False):
        if (local_rank == 0) == turn and not osp.exists(cached):
            os.makedirs(osp.dirname(cached), exist_ok=True)
            try:
                torch.hub.download_url_to_file(url, cached, progress=False)
            except Exception as error:  # noqa: BLE001 -- the network's words
                raise InputError(
                    f'Could not download the checkpoint {url}: '
                    f'{" ".join(str(error).split())[:160]}') from None
        if world_size > 1 and turn:
            torch.distributed.barrier()
    return cached


def read_checkpoint(filename: str, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint from any source mmengine reads, by one path: a URL
    (``http(s)://``, ``torchvision://``, ``open-mmlab://``) is downloaded to
    torch's hub cache and a file on one of mmengine's storage backends
    (``s3://``...) copied locally; then the local file is read by
    :func:`load_checkpoint_file`, with its checks, and errors that name
    ``filename``.

    Raises:
        InputError: a scheme mmvig does not read (``pavi://``,
            ``mmcls://``: download the file and pass its path), or an
            unknown model name under a scheme; and as
            :func:`load_checkpoint_file`.
    """
    if '://' not in filename:
        return load_checkpoint_file(filename, map_location)
    target = _url_of(filename)
    if target.startswith(('http://', 'https://')):
        return load_checkpoint_file(
            _download(target), map_location, source=filename)
    if '://' not in target:
        return load_checkpoint_file(target, map_location, source=filename)
    if target.startswith(('pavi://', 'mmcls://')):
        raise InputError(
            f'{filename}: mmvig reads local files, http(s)://, '
            'torchvision://, open-mmlab:// and mmengine storage backends '
            '(s3://, petrel://...); download this checkpoint and pass its '
            'path.')
    from mmengine.fileio import get_local_path
    with get_local_path(target) as local:
        return load_checkpoint_file(local, map_location, source=filename)
