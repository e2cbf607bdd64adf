"""Safe checkpoint loading.

A checkpoint is untrusted input: a pickle can run any code while it loads.
mmvig loads every checkpoint with ``torch.load(weights_only=True)``, which
rebuilds tensors, containers and an allowlist of types, and refuses anything
else. The training checkpoints of mmengine, mmpretrain, mmdet and mmseg hold
a few Python objects besides tensors (the message hub's history buffers,
numpy scalars, dtypes and arrays); :func:`safe_types` lists a checking
stand-in for each. mmvig's loaders admit them for their own loads; on the
upstream stack :func:`allow_training_checkpoint_types` also adds them to
torch's allowlist (on ``import mmvig``), so that mmengine's own loader
(``resume``, ``load_from``, ``Pretrained`` init, the task libraries'
``train.py`` / ``test.py``) reads these checkpoints too. That is the only
process-wide change mmvig makes, and what it admits is data. onedl-mmengine
admits numpy's and mmengine's own types for each of its loads, under the
same names; there mmvig adds nothing (a name entered twice resolves to
either entry, by chance).

The stand-ins parse, then build: they collect plain values (ints, a
byte-order character, a dtype code, ``bytes``) and mmvig builds each result
itself, from a fixed table of dtypes (:data:`PLAIN_DTYPES`: bool, int/uint
8-64, float 16-64, complex 64/128, either byte order); no numpy constructor
or ``__setstate__`` sees a checkpoint's own objects. Each stand-in has one
way in, the opcodes numpy's and mmengine's own pickles use, called by
torch's unpickler itself (a call through another allowlisted function is
refused):

- ``numpy.dtype``: REDUCE ``dtype(code, False, copy)`` and one BUILD that
  sets the byte order (:class:`LoadedDtype`);
- arrays: REDUCE ``_reconstruct(ndarray, (0,), b'b')`` and one BUILD with
  exactly ``prod(shape) * itemsize`` bytes of a built dtype, copied into a
  fresh, owned, C-contiguous :class:`LoadedArray` (an ndarray subclass
  that pickles back as a plain ndarray); ``numpy.ndarray`` itself cannot be
  called; a load builds no more numpy data than its pickle holds;
- scalars: REDUCE ``scalar(dtype, bytes)`` of exactly ``itemsize`` bytes;
  ``bytes()``: the empty bytes protocol 2 writes for an empty array;
- mmengine's ``HistoryBuffer``: NEWOBJ without arguments and one BUILD,
  whose state is checked before it is applied: two built numeric 1-D
  histories of one length (copied), a positive ``max_length``, and
  statistics that map ``min``, ``max``, ``current``, ``mean`` to their own
  methods (so no checkpoint can change the class-wide statistics table);
- one lookup: mmengine pickles a history buffer's statistics methods as
  ``getattr(HistoryBuffer, 'mean')``, so ``getattr`` is admitted for exactly
  those four names of that class, a fixed set no checkpoint can widen.

A checkpoint that needs anything else is refused with
:class:`UnsafeCheckpointError`, naming the file and the types. Who trusts
such a file opts in with torch's own switch, for one process:
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (mmvig's loader then leaves the
choice to torch, as mmengine's does).

mmvig's own loader, :func:`read_checkpoint`, reads every source (local
files, URLs, mmengine's schemes and storage backends) by one path,
:func:`load_checkpoint_file`, and checks more than torch does, before
anything is unpickled: the zip layout (:func:`check_checkpoint_file`:
records stored uncompressed, each name once, none overlapping; no format
older than zip) and the pickle's calls (:func:`_scan_pickle`: a subset of
torch's allowlist, with the arguments a training checkpoint gives them);
while torch unpickles, the numpy data are charged against the file's size;
after, every stand-in must have been built and no tensor may outgrow its
storage (:func:`check_tensor_storage`). :func:`checked_checkpoint_loaders`
puts that loader under every scheme of mmengine's ``CheckpointLoader`` for
a block (``mmvig.engine.MMVigRunner`` does, for its runs), and
:func:`check_resume_meta` checks a resume's ``meta`` before mmengine reads
it.

The modules, by job: :mod:`~mmvig.safe_load.stand_ins` (the allowlist and
its stand-ins), :mod:`~mmvig.safe_load.scan` (the pickle scan),
:mod:`~mmvig.safe_load.loader` (a local file: its checks, the load, the
errors), :mod:`~mmvig.safe_load.urls` (URLs and mmengine's schemes),
:mod:`~mmvig.safe_load.resume` (a resume's ``meta``) and
:mod:`~mmvig.safe_load.loaders` (mmvig's loader under mmengine's).
"""
from ..errors import CheckpointFileError, InputError, UnsafeCheckpointError
from .loader import (MAX_NESTING, TRUST_SWITCH, check_checkpoint_file,
                     check_tensor_storage, load_checkpoint_file,
                     oversized_tensor, unpickler_reason, unreadable_checkpoint)
from .loaders import (FORCE_SWITCH, checked_checkpoint_loaders,
                      load_from_mmvig, weights_only_everywhere)
from .resume import check_resume_meta, resuming
from .stand_ins import (HISTORY_BUFFER_STATISTICS, PLAIN_DTYPES, LoadedArray,
                        LoadedDtype, allow_training_checkpoint_types,
                        safe_types, stand_ins_in_torch_allowlist)
from .urls import read_checkpoint

__all__ = [
    'CheckpointFileError', 'InputError', 'UnsafeCheckpointError',
    'MAX_NESTING', 'TRUST_SWITCH', 'FORCE_SWITCH', 'PLAIN_DTYPES',
    'HISTORY_BUFFER_STATISTICS', 'LoadedArray', 'LoadedDtype', 'safe_types',
    'allow_training_checkpoint_types', 'stand_ins_in_torch_allowlist',
    'check_checkpoint_file', 'check_tensor_storage', 'load_checkpoint_file',
    'oversized_tensor', 'unpickler_reason', 'unreadable_checkpoint',
    'read_checkpoint', 'check_resume_meta', 'resuming',
    'checked_checkpoint_loaders', 'load_from_mmvig', 'weights_only_everywhere'
]
