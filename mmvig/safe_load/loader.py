"""mmvig's loader of a local checkpoint file: the zip layout checked, the
pickle scanned, torch's safe unpickler with the stand-ins, the tensors'
storage checked after, and one-line errors that name the file."""
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import Any, List, Optional, Tuple

import torch

from ..errors import CheckpointFileError, UnsafeCheckpointError
from .scan import _scan_pickle, _UnknownGlobal
from .stand_ins import (_LOAD, _REFUSAL, _UNBUILT, LoadedArray, LoadedDtype,
                        _LoadState, _short, _stand_ins_admitted)

TRUST_SWITCH = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'


def _trusted() -> bool:
    return os.environ.get(TRUST_SWITCH,
                          '0').lower() in ('1', 'y', 'yes', 'true')


def unpickler_reason(error: Exception) -> str:
    """The unpickler's own words from torch's long message."""
    text = str(error)
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:', 1)[1]
        text = text.split('Check the documentation of torch.load', 1)[0]
    return ' '.join(text.split()) or type(error).__name__


def _unsafe_globals(filename: str, error: Exception) -> List[str]:
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(filename)
    except Exception:  # noqa: BLE001 -- fall back to the error's own words
        if isinstance(error, _UnknownGlobal):
            return [str(error)]
        return re.findall(r'GLOBAL ([\w.]+)', str(error))


def check_checkpoint_file(filename: str) -> List[Tuple[str, int, int]]:
    """Fail, naming the file, when a local checkpoint is missing, empty, or
    not a zip archive laid out as ``torch.save`` writes one, before any of
    it is unpickled: every record stored uncompressed, each name once and
    named so in its own header, no two records overlapping, each within the
    file (so the records hold at most the file's size), and the directory
    where the end record says (so that Python's reader and torch's read the
    same records). Reads the zip directory and the records' headers only.

    Returns:
        list: ``(name, offset, size)`` of each pickle record (``data.pkl``).

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointFileError: it is empty, truncated, not a zip archive (a
            checkpoint older than torch 1.6, or no checkpoint at all), or
            laid out as ``torch.save`` never lays one out.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint {filename} does not exist')
    size = osp.getsize(filename)
    if size == 0:
        raise CheckpointFileError(f'{filename} is not a readable checkpoint: '
                                  'it is empty (0 bytes)')
    with open(filename, 'rb') as f:
        if f.read(4) != b'PK\x03\x04':
            raise CheckpointFileError(
                f'{filename} is not a readable checkpoint: it is not a zip '
                'archive, the format torch.save has written since torch 1.6 '
                '(an older format allocates what the file declares before '
                'reading it, so mmvig does not read one; re-save it with a '
                'current torch where you trust it)')
        try:
            with zipfile.ZipFile(f) as archive:
                infos = archive.infolist()
                shifted = archive.start_dir != _stated_directory(f, size)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
            raise CheckpointFileError(
                f'{filename} is not a readable checkpoint: it is truncated '
                f'or damaged ({size} bytes, its zip directory cannot be read: '
                f'{error}); copy or save it again') from None
        if shifted:  # Python reads such a file shifted, torch's reader not
            raise CheckpointFileError(
                f'Refused to load {filename}: its zip directory is not where '
                'its end record says (data before the archive); torch.save '
                'writes no such zip archive')
        return _record_layout(f, infos, filename, size)


def _stated_directory(f: Any, size: int) -> int:
    """Where a zip's end record (zip64's, for large files) says its
    directory starts. Python's ``zipfile`` shifts every offset by the bytes
    found before an archive; torch's reader does not, so the two would read
    different records unless that shift is 0."""
    f.seek(max(0, size - 65557))
    tail = f.read()
    at = tail.rfind(b'PK\x05\x06')
    offset = int.from_bytes(tail[at + 16:at + 20], 'little')
    locator = tail.rfind(b'PK\x06\x07', 0, max(at, 0))
    if offset == 0xFFFFFFFF and locator >= 0:
        f.seek(int.from_bytes(tail[locator + 8:locator + 16], 'little'))
        offset = int.from_bytes(f.read(56)[48:56], 'little')
    return offset


def _record_layout(f: Any, infos: List[zipfile.ZipInfo], filename: str,
                   size: int) -> List[Tuple[str, int, int]]:
    """Check the records of a zip checkpoint against the file (see
    :func:`check_checkpoint_file`); the pickle records' data spans."""

    def refuse(what: str) -> CheckpointFileError:
        return CheckpointFileError(
            f'Refused to load {filename}: {what}; torch.save writes no such '
            'zip archive (the file is crafted, or was re-packed by another '
            'tool)')

    names, spans, pickles = set(), [], []
    for info in infos:
        name = _short(info.filename, 80)
        if info.compress_type != zipfile.ZIP_STORED or \
                info.compress_size != info.file_size or info.flag_bits & 1:
            raise refuse(f'its record {name} is compressed or encrypted '
                         f'(method {info.compress_type}), so it could expand '
                         'far beyond the file')
        if info.filename in names:
            raise refuse(f'two records are named {name}')
        names.add(info.filename)
        f.seek(info.header_offset)
        header = f.read(30)
        if len(header) < 30 or header[:4] != b'PK\x03\x04':
            raise CheckpointFileError(
                f'{filename} is not a readable checkpoint: a record in it is '
                f'damaged ({name} has no header where the zip directory '
                'points); save or copy it again')
        length = int.from_bytes(header[26:28], 'little')
        if f.read(length) != info.orig_filename.encode(
                'utf-8' if info.flag_bits & 0x800 else 'cp437'):
            raise refuse(f'the record {name} is named otherwise in its '
                         'header')
        start = info.header_offset + 30 + length + int.from_bytes(
            header[28:30], 'little')
        spans.append((info.header_offset, start + info.file_size, name))
        if osp.basename(info.filename) == 'data.pkl':
            pickles.append((info.filename, start, info.file_size))
    spans.sort()
    for (_, end, name), (begin, _, other) in zip(spans, spans[1:]):
        if begin < end:
            raise refuse(f'its records {name} and {other} overlap')
    if spans and spans[-1][1] > size:
        raise refuse(f'its record {spans[-1][2]} ends past the file '
                     f'({spans[-1][1]} of {size} bytes)')
    return pickles


def load_checkpoint_file(filename: str,
                         map_location: Any = 'cpu',
                         source: Optional[str] = None) -> Any:
    """``torch.load`` a local checkpoint safely, with errors that name it.

    Before torch reads anything, the file's zip layout is checked
    (:func:`check_checkpoint_file`) and its pickle scanned
    (:func:`_scan_pickle`); while torch unpickles it, the numpy data built
    are charged against the file's size; after, every stand-in must have
    been built and no tensor may be larger than its storage
    (:func:`check_tensor_storage`).

    Args:
        filename: Path of the checkpoint.
        map_location: As for ``torch.load``.
        source: What the errors name (a URL the file was downloaded from);
            ``filename`` by default.

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: it needs types or calls outside the
            allowlist.
        CheckpointFileError: it is not a checkpoint torch can read, or is
            laid out or sized as no saved model is.
    """
    filename = osp.expanduser(filename)
    shown = source or filename
    try:
        pickles = check_checkpoint_file(filename)
    except CheckpointFileError as error:
        raise CheckpointFileError(str(error).replace(filename, shown)) \
            from None
    state = _LoadState(osp.getsize(filename))
    try:
        with _stand_ins_admitted():
            if not _trusted():
                with open(filename, 'rb') as f:
                    for _, offset, size in pickles:
                        f.seek(offset)
                        _scan_pickle(f.read(size), state.budget)
            token = _LOAD.set(state)
            try:
                checkpoint = torch.load(
                    filename,
                    map_location=map_location,
                    weights_only=None if _trusted() else True)
            finally:
                _LOAD.reset(token)
    except (_UnknownGlobal, pickle.UnpicklingError) as error:
        reason = unpickler_reason(error)
        if reason.startswith(_REFUSAL):
            raise UnsafeCheckpointError(
                f'Refused to load {shown}: {reason[len(_REFUSAL):]}. A '
                'training checkpoint holds nothing of the kind.') from None
        found = _unsafe_globals(filename, error)
        if not found:
            raise CheckpointFileError(
                f'{shown} is not a readable checkpoint (the unpickler '
                f'says: {reason})') from None
        raise UnsafeCheckpointError(
            f'Refused to load {shown}: it holds {", ".join(found)}, '
            'which a training checkpoint does not need and which could run '
            'code while loading. If you trust this file, allow it with '
            f'{TRUST_SWITCH}=1 in the environment of this one run.') from None
    except Exception as error:  # noqa: BLE001 -- garbage fails any way
        raise unreadable_checkpoint(shown, error) from None
    unbuilt = [obj for obj in state.made if obj in _UNBUILT]
    if unbuilt:
        raise UnsafeCheckpointError(
            f'Refused to load {shown}: it makes {len(unbuilt)} numpy or '
            f'mmengine object(s) (first a {_stand_in_name(unbuilt[0])}) and '
            'never sets their state, as no saved object is pickled. A '
            'training checkpoint holds nothing of the kind.')
    check_tensor_storage(checkpoint, shown)
    return checkpoint


def _stand_in_name(obj: Any) -> str:
    return {
        LoadedDtype: 'numpy dtype',
        LoadedArray: 'numpy array'
    }.get(type(obj), 'HistoryBuffer')


def unreadable_checkpoint(filename: str,
                          error: BaseException) -> CheckpointFileError:
    """The one-line error for a file torch's reader failed on, naming it
    and the reason in a few words (never an empty reason or a binding's
    signature list)."""
    text = str(error)
    if 'negative number' in text or 'get_storage_from_record' in text:
        reason = 'a storage in it declares an impossible size'
    elif isinstance(error, MemoryError) or "can't allocate memory" in text \
            or 'alloc_cpu' in text:
        asked = re.search(r'allocate (\d+) bytes', text)
        reason = 'it declares more data than this machine can hold' + (
            f' ({int(asked.group(1)):,} bytes)' if asked else '')
    elif 'PytorchStreamReader' in text:
        reason = (f'a record in it is damaged ({text.split(". ")[0]}); copy '
                  'or save it again')
    else:
        first = ' '.join(text.strip().splitlines()[0].split()) if \
            text.strip() else ''
        reason = f'{type(error).__name__}: {first[:200]}' if first else \
            type(error).__name__
        reason = f'({reason})'
        return CheckpointFileError(
            f'{filename} is not a readable checkpoint {reason}')
    return CheckpointFileError(
        f'{filename} is not a readable checkpoint: {reason}')


def oversized_tensor(tensor: torch.Tensor) -> Optional[int]:
    """The elements a strided tensor's storage holds, when the tensor has
    more (strides that repeat them, as ``expand`` makes: 4 stored bytes can
    stand for 2e9 elements, which any whole-tensor operation then
    allocates); ``None`` for every other tensor."""
    if tensor.layout != torch.strided or tensor.numel() == 0 or \
            tensor.device.type == 'meta':
        return None
    stored = tensor.untyped_storage().nbytes() // tensor.element_size()
    return stored if tensor.numel() > stored else None


# How deep a checkpoint may nest containers (a training checkpoint: a few
# levels); deeper ones make Python's recursive copy and pickle fail.
MAX_NESTING = 64
_CONTAINERS = (dict, list, tuple, set, frozenset)


def check_tensor_storage(checkpoint: Any, filename: str) -> None:
    """Refuse a loaded checkpoint holding a tensor with more elements than
    its storage (see :func:`oversized_tensor`), or containers nested more
    than :data:`MAX_NESTING` deep; a saved model holds neither. One pass
    over the containers and tensors, each visited once; the key path of an
    entry is written only for the message of a refusal.

    Raises:
        CheckpointFileError: naming the file, the key and the sizes.
    """
    entries: List[Tuple[int, Any]] = [(-1, None)]  # (parent entry, key)

    def path(entry: int) -> str:
        keys = []
        while entry > 0:
            entry, key = entries[entry]
            keys.append(f'[{key}]' if type(key) is int else f'.{key[:40]}'
                        if type(key) is str else f'[{_short(key, 40)}]')
        return ''.join(reversed(keys)).lstrip('.') or '(top)'

    stack, seen = [(checkpoint, 0, 0)], {id(checkpoint)}
    while stack:
        value, entry, depth = stack.pop()
        if depth > MAX_NESTING:
            raise CheckpointFileError(
                f'Refused to load {filename}: it nests containers more than '
                f'{MAX_NESTING} levels deep (at {path(entry)[:120]}); '
                'a saved model holds no such structure.')
        if isinstance(value, torch.Tensor):
            stored = oversized_tensor(value)
            if stored is not None:
                raise CheckpointFileError(
                    f'Refused to load {filename}: its tensor {path(entry)} '
                    f'has {value.numel():,} elements over a storage of '
                    f'{stored:,} (strides that repeat them); a saved model '
                    'holds no such tensor, and reading it would allocate '
                    f'{value.numel() * value.element_size():,} bytes.')
            continue
        if not isinstance(value, _CONTAINERS):
            continue
        items = value.items() if isinstance(
            value, dict) else enumerate(value) if isinstance(
                value, (list, tuple)) else ((None, v) for v in value)
        for key, item in items:
            for part in (key, item):
                if id(part) in seen or not isinstance(
                        part, _CONTAINERS + (torch.Tensor, )):
                    continue
                seen.add(id(part))
                entries.append((entry, key))
                stack.append((part, len(entries) - 1, depth + 1))
