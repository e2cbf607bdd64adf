"""Checks of a data set: its paths in a config (before anything is built),
its annotations (masks, degenerate boxes and polygons) and its images (files
that do not decode, image bombs)."""
import math
import os
import os.path as osp
import re
from typing import TYPE_CHECKING, Dict, Iterator, List, Sequence, Tuple

from mmengine.config import Config

from ..errors import InputError, MMVigWarning

if TYPE_CHECKING:
    import numpy as np

_WRAPPER_KEYS = ('dataset', 'datasets')


def _datasets(cfg: dict, key: str) -> Iterator[Tuple[str, dict]]:
    """Yield ``(config key, dataset cfg)`` for a dataset and any it wraps."""
    wrapped = [k for k in _WRAPPER_KEYS if k in cfg]
    if not wrapped:
        yield key, cfg
    for k in wrapped:
        inner = cfg[k]
        if isinstance(inner, (list, tuple)):
            for i, item in enumerate(inner):
                yield from _datasets(item, f'{key}.{k}[{i}]')
        else:
            yield from _datasets(inner, f'{key}.{k}')


def check_data_paths(
    cfg: Config, splits: Sequence[str] = ('train', 'val')) -> None:
    """Fail early, naming the config key, when a data path does not exist.

    Checks ``data_root``, ``ann_file`` and every ``data_prefix`` entry of the
    ``{split}_dataloader`` datasets (wrappers such as ``RepeatDataset`` and
    ``ConcatDataset`` included), and the ``ann_file`` of the
    ``{split}_evaluator`` (COCO metrics read one).

    Raises:
        FileNotFoundError: a path is missing.
    """
    for split in splits:
        evaluators = cfg.get(f'{split}_evaluator') or []
        for i, evaluator in enumerate(
                evaluators if isinstance(evaluators, (
                    list, tuple)) else [evaluators]):
            ann_file = evaluator.get('ann_file') if isinstance(
                evaluator, dict) else None
            if ann_file and '://' not in ann_file and \
                    not osp.exists(ann_file):
                key = f'{split}_evaluator' + (f'[{i}]' if isinstance(
                    evaluators, (list, tuple)) else '')
                raise FileNotFoundError(
                    f'{split} annotations not found: {key}.ann_file points '
                    f'to {ann_file!r}, which does not exist. Set it in the '
                    'config (or with --cfg-options) to the data set\'s '
                    'annotation file.')
        loader = cfg.get(f'{split}_dataloader')
        if not loader or 'dataset' not in loader:
            continue
        for key, dataset in _datasets(loader['dataset'],
                                      f'{split}_dataloader.dataset'):
            root = dataset.get('data_root') or ''
            paths = []
            if root:
                paths.append(('data_root', root))
            if dataset.get('ann_file'):
                paths.append(('ann_file', osp.join(root, dataset['ann_file'])))
            prefix = dataset.get('data_prefix') or {}
            if isinstance(prefix, str):
                prefix = {'': prefix}
            paths += [(f'data_prefix.{k}' if k else 'data_prefix',
                       osp.join(root, v)) for k, v in prefix.items() if v]
            for name, path in paths:
                if not osp.exists(path):
                    raise FileNotFoundError(
                        f'{split} data not found: {key}.{name} points to '
                        f'{path!r}, which does not exist. Set the data paths '
                        'in the config (or with --cfg-options) to where the '
                        'data set lives.')


def _unwrapped(dataset) -> Iterator:
    """A dataset and the ones it wraps (Concat, Repeat, ClassBalanced...)."""
    inner = getattr(
        dataset, 'datasets',
        None) or ([dataset.dataset] if hasattr(dataset, 'dataset') else None)
    if inner is None:
        yield dataset
        return
    for item in inner:
        yield from _unwrapped(item)


def _loads_masks(dataset) -> bool:
    transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms', [])
    return any(getattr(t, 'with_mask', False) for t in transforms)


def check_instance_masks(dataset) -> None:
    """Fail, naming the image, when a detection data set whose pipeline
    loads masks has an instance without one.

    mmdet's ``CocoDataset`` leaves ``mask`` out of an instance whose COCO
    annotation has an empty (or no) ``segmentation``; ``LoadAnnotations
    (with_mask=True)`` then stops a dataloader worker with ``KeyError:
    'mask'``, far from the cause.

    Raises:
        InputError: an instance has no mask.
    """
    for inner in _unwrapped(dataset):
        if not _loads_masks(inner):
            continue
        if hasattr(inner, 'full_init'):
            inner.full_init()
        for index in range(len(inner)):
            info = inner.get_data_info(index)
            for j, instance in enumerate(info.get('instances', [])):
                if 'mask' not in instance:
                    raise InputError(
                        f'{getattr(inner, "ann_file", "the annotations")}: '
                        f'instance {j} of image {info.get("img_path")} has '
                        'no mask (its COCO "segmentation" is empty or '
                        'missing), and the pipeline loads masks '
                        '(LoadAnnotations with_mask=True). Give every '
                        'annotation a polygon or an RLE, or remove the ones '
                        'without.')


class DroppedAnnotationsWarning(MMVigWarning):
    """Annotations of a training set that mmdet drops or ignores."""


_WARNED_FILES: set = set()


def _polygons_too_short(segmentation) -> bool:
    return isinstance(segmentation, list) and any(
        not isinstance(p, list) or len(p) < 6 or len(p) % 2
        for p in segmentation)


def dropped_annotations(coco: dict) -> Dict[str, List]:
    """The annotations of a COCO file that mmdet's ``CocoDataset`` drops
    (a box that is not four finite numbers, lies outside its image, is under
    a pixel wide or high or has no positive area; a category id the file
    does not list) or ignores (a polygon of fewer than three points, which
    ``LoadAnnotations`` replaces by an ignored empty mask), by problem.

    Args:
        coco: The annotation file's contents.

    Returns:
        dict: ``{problem: [annotation ids]}``, the problems found only.
    """
    categories = {
        c.get('id')
        for c in coco.get('categories') or [] if isinstance(c, dict)
    }
    images = {
        i.get('id'): i
        for i in coco.get('images') or [] if isinstance(i, dict)
    }
    found: Dict[str, List] = {}
    for ann in coco.get('annotations') or []:
        if not isinstance(ann, dict) or ann.get('ignore') or \
                ann.get('iscrowd'):
            continue
        problem = None
        box = ann.get('bbox')
        if not (isinstance(box, (list, tuple)) and len(box) == 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool)
                for v in box)):
            problem = 'a box that is not four numbers'
        elif not all(math.isfinite(v) for v in box):
            problem = 'a box that is not finite (NaN or infinity)'
        elif box[2] < 1 or box[3] < 1 or not (isinstance(
                ann.get('area'), (int, float)) and ann['area'] > 0):
            problem = 'a box under a pixel wide or high, or an area <= 0'
        elif ann.get('category_id') not in categories:
            problem = "a category id not among the file's categories"
        else:
            image = images.get(ann.get('image_id'), {})
            x, y, w, h = box
            width, height = image.get('width'), image.get('height')
            sized = all(isinstance(v, (int, float)) for v in (width, height))
            if sized and (min(x + w, width) <= max(x, 0)
                          or min(y + h, height) <= max(y, 0)):
                problem = 'a box outside its image'
            elif _polygons_too_short(ann.get('segmentation')):
                problem = 'a polygon of fewer than three points'
        if problem:
            found.setdefault(problem, []).append(ann.get('id'))
    return found


def warn_dropped_annotations(dataset) -> int:
    """Warn once per annotation file of a COCO-style training set (and the
    sets it wraps) about the annotations mmdet drops or ignores without a
    word (see :func:`dropped_annotations`): how many, why, the first ids.

    Returns:
        int: the number of such annotations found.
    """
    import json
    import warnings
    total = 0
    for inner in _unwrapped(dataset):
        ann_file = str(getattr(inner, 'ann_file', '') or '')
        if not hasattr(inner, 'cat_ids') or not ann_file.endswith('.json') \
                or '://' in ann_file or not osp.isfile(ann_file) or \
                ann_file in _WARNED_FILES:
            continue
        _WARNED_FILES.add(ann_file)
        with open(ann_file) as f:
            coco = json.load(f)
        found = dropped_annotations(coco)
        count = sum(len(ids) for ids in found.values())
        if not count:
            continue
        total += count
        details = '; '.join(
            f'{len(ids)} with {problem} (id{"s" if len(ids) > 1 else ""} '
            f'{", ".join(map(str, ids[:5]))}{", ..." if len(ids) > 5 else ""})'
            for problem, ids in found.items())
        warnings.warn(
            f'{ann_file}: mmdet drops, ignores or cannot use {count} of '
            f'{len(coco.get("annotations") or [])} annotations: {details}. '
            'Fix or remove them if those objects should be learnt.',
            DroppedAnnotationsWarning,
            stacklevel=2)
    return total


# The most pixels one image may have before it is decoded (Pillow's own
# decompression-bomb limit); MMVIG_MAX_IMAGE_PIXELS changes it.
MAX_IMAGE_PIXELS_ENV = 'MMVIG_MAX_IMAGE_PIXELS'
DEFAULT_MAX_IMAGE_PIXELS = 178_956_970


def max_image_pixels() -> int:
    """The pixel limit of one image (``MMVIG_MAX_IMAGE_PIXELS``)."""
    text = os.environ.get(MAX_IMAGE_PIXELS_ENV, '')
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise InputError(f'{MAX_IMAGE_PIXELS_ENV}={text!r}: give a positive '
                         'number of pixels')
    return value


def check_image_size(path: str) -> None:
    """Refuse a local image whose header declares more pixels than
    :func:`max_image_pixels`, before it is decoded (a 100 KB PNG can
    declare 30000 x 30000 pixels: gigabytes once decoded). Reads the header
    only; a file Pillow cannot read is left to the decoder.

    Raises:
        InputError: the image is too large, naming it and the setting.
    """
    from PIL import Image
    limit = max_image_pixels()
    try:
        with Image.open(path) as image:
            width, height = image.size
    except Image.DecompressionBombError as error:
        # Pillow's own limit, met before it gives the size: its message
        # holds the pixel count, which a raised limit may still admit
        found = re.search(r'\((\d+) pixels\)', str(error))
        if found and int(found.group(1)) <= limit:
            return
        size = f'{int(found.group(1)):,} pixels' if found else str(error)
    except Exception:  # noqa: BLE001 -- not an image Pillow reads
        return
    else:
        if width * height <= limit:
            return
        size = f'{width} x {height} = {width * height:,} pixels'
    raise InputError(
        f'{path} is too large to decode ({size}; the limit is {limit:,} '
        'pixels per image): an image bomb, or a scan far larger than the '
        'model needs. Resize it, or raise the limit with '
        f'{MAX_IMAGE_PIXELS_ENV}=N.')


def read_image(path: str, flag: str = 'color', **kwargs) -> 'np.ndarray':
    """``mmcv.imread`` with an error that names the file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        InputError: it is empty, does not decode as an image, or declares
            more pixels than :func:`max_image_pixels`.
    """
    import mmcv
    if not osp.isfile(path):
        raise FileNotFoundError(f'Image not found: {path}')
    check_image_size(path)
    try:
        image = mmcv.imread(path, flag, **kwargs)
    except Exception as error:  # noqa: BLE001 -- the decoder's own reasons
        image, reason = None, f'{type(error).__name__}: {error}'
    else:
        reason = 'the decoder returned nothing'
    if image is None:
        raise InputError(unreadable_image(path, reason))
    return image


def unreadable_image(path: str, reason: str) -> str:
    """The message for an image file that does not decode."""
    try:
        empty = osp.getsize(path) == 0
    except OSError:
        empty = False
    what = 'is empty (0 bytes)' if empty else \
        f'cannot be decoded as an image ({" ".join(reason.split())[:200]})'
    return (f'{path} {what}. Replace or remove the file (`find DATA_ROOT '
            '-size 0` lists the empty ones).')


class NamedImageLoading:
    """Wraps an image-loading transform (mmcv's ``LoadImageFromFile``) so
    that a file that does not decode, or declares more pixels than
    :func:`max_image_pixels`, stops the run with an :class:`InputError`
    naming it, instead of the decoder's assertion or an out-of-memory
    failure."""

    def __init__(self, transform) -> None:
        self.transform = transform

    def __call__(self, results: dict):
        path = results.get('img_path') if isinstance(results, dict) else None
        if path is not None and osp.isfile(str(path)):
            check_image_size(str(path))
        try:
            out = self.transform(results)
        except Exception as error:  # noqa: BLE001 -- named, then raised
            reason = f'{type(error).__name__}: {error}'
        else:
            if out is not None:
                return out
            reason = 'the decoder returned nothing'
        path = results.get('img_path') if isinstance(results, dict) else None
        if path is None:
            raise InputError(f'an image could not be read ({reason})')
        raise InputError(unreadable_image(str(path), reason))

    def __repr__(self) -> str:
        return repr(self.transform)


def name_unreadable_images(dataset) -> int:
    """Wrap the image-loading transforms of ``dataset`` (and the data sets it
    wraps) in :class:`NamedImageLoading`; returns how many were wrapped."""
    from mmcv.transforms import LoadImageFromFile
    wrapped = 0
    for inner in _unwrapped(dataset):
        transforms = getattr(
            getattr(inner, 'pipeline', None), 'transforms', None)
        if not isinstance(transforms, list):
            continue
        for i, transform in enumerate(transforms):
            if isinstance(transform, LoadImageFromFile):
                transforms[i] = NamedImageLoading(transform)
                wrapped += 1
    return wrapped
