"""Synthetic shape scenes: small, deterministic data sets made from a seed.

Every scene is a textured background with filled polygons (circles, triangles,
squares, pentagons, stars, crosses) of random size, colour, position and
rotation. Shapes are kept as polygons, so the same scene gives an image-level
label, instance polygons and boxes, or a semantic mask.

The classification export follows the ImageNet folder layout that
mmpretrain's ``CustomDataset`` reads::

    ROOT/train/<class>/<index>.png
    ROOT/val/<class>/<index>.png
    ROOT/meta/classes.txt

The scene export (:func:`make_scene_set`) writes several shapes per image
with COCO instance annotations (polygons and boxes) for mmdet and
ADE20K-style semantic masks for mmseg.

Command line: ``tools/misc/make_synthetic_data.py``.
"""
import hashlib
import json
import math
import os
import os.path as osp
import shutil
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPE_CLASSES = ('circle', 'triangle', 'square', 'pentagon', 'star', 'cross')
_DONE_FILE = '.mmvig_dataset.json'

Point = Tuple[float, float]


@dataclass
class Shape:
    """One filled polygon of a scene.

    Attributes:
        label: Index into :data:`SHAPE_CLASSES`.
        polygon: Vertices ``[(x, y), ...]`` in pixels.
        color: RGB fill colour.
    """
    label: int
    polygon: List[Point]
    color: Tuple[int, int, int]

    @property
    def name(self) -> str:
        return SHAPE_CLASSES[self.label]

    def bbox(self) -> Tuple[float, float, float, float]:
        """``(x, y, w, h)`` of the polygon."""
        xs, ys = zip(*self.polygon)
        return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def shape_polygon(name: str, cx: float, cy: float, radius: float,
                  angle: float) -> List[Point]:
    """Vertices of a shape centred at ``(cx, cy)`` with outer ``radius``."""

    def ring(radii: Sequence[float], count: int) -> List[Point]:
        return [
            (cx +
             radii[i % len(radii)] * math.cos(angle + 2 * math.pi * i / count),
             cy +
             radii[i % len(radii)] * math.sin(angle + 2 * math.pi * i / count))
            for i in range(count)
        ]

    if name == 'circle':
        return ring([radius], 32)
    if name == 'triangle':
        return ring([radius], 3)
    if name == 'square':
        return ring([radius], 4)
    if name == 'pentagon':
        return ring([radius], 5)
    if name == 'star':
        return ring([radius, 0.45 * radius], 10)
    if name == 'cross':
        arm, half = radius, 0.35 * radius
        outline = [(half, arm), (half, half), (arm, half), (arm, -half),
                   (half, -half), (half, -arm), (-half, -arm), (-half, -half),
                   (-arm, -half), (-arm, half), (-half, half), (-half, arm)]
        cos, sin = math.cos(angle), math.sin(angle)
        return [(cx + x * cos - y * sin, cy + x * sin + y * cos)
                for x, y in outline]
    raise ValueError(f'Unknown shape {name!r}; choose one of {SHAPE_CLASSES}')


def _random_color(rng: np.random.RandomState) -> Tuple[int, int, int]:
    return tuple(int(c) for c in rng.randint(0, 256, size=3))


def random_shape(
    rng: np.random.RandomState,
    image_size: Tuple[int, int],
    label: Optional[int] = None,
    radius_range: Tuple[float, float] = (0.15, 0.4),
    avoid_colors: Sequence[Tuple[int, int, int]] = ()
) -> Shape:
    """A random shape inside an image of ``(width, height)`` pixels.

    Args:
        rng: Random state.
        image_size: ``(width, height)``.
        label: Class index; random when ``None``.
        radius_range: Outer radius as a fraction of the shorter image side.
        avoid_colors: Colours the fill must stand out from (the background).
    """
    width, height = image_size
    label = int(rng.randint(len(SHAPE_CLASSES))) if label is None else label
    radius = rng.uniform(*radius_range) * min(width, height)
    cx = rng.uniform(radius, width - radius)
    cy = rng.uniform(radius, height - radius)
    polygon = shape_polygon(SHAPE_CLASSES[label], cx, cy, radius,
                            rng.uniform(0, 2 * math.pi))
    return Shape(label, polygon, contrasting_color(rng, avoid_colors))


def contrasting_color(rng: np.random.RandomState,
                      avoid: Sequence[Tuple[int, int, int]],
                      min_distance: float = 120.0) -> Tuple[int, int, int]:
    """A random colour at least ``min_distance`` (RGB) from every colour in
    ``avoid``, so a shape stays visible on its background."""
    while True:
        color = _random_color(rng)
        if all(
                np.linalg.norm(np.subtract(color, a)) >= min_distance
                for a in avoid):
            return color


def background_colors(
    rng: np.random.RandomState
) -> Tuple[Tuple[int, int, int], Tuple[int, int, int]]:
    """Top and bottom colours of a scene's gradient background."""
    return _random_color(rng), _random_color(rng)


def render_scene(
    shapes: Sequence[Shape], image_size: Tuple[int, int],
    rng: np.random.RandomState, background: Tuple[Tuple[int, int, int],
                                                  Tuple[int, int,
                                                        int]]) -> Image.Image:
    """Draw ``shapes`` in order over a noisy two-colour gradient background."""
    width, height = image_size
    top, bottom = np.array(background[0]), np.array(background[1])
    ramp = np.linspace(0, 1, height)[:, None, None]
    background = top * (1 - ramp) + bottom * ramp + rng.normal(
        0, 12, size=(height, width, 3))
    image = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for shape in shapes:
        draw.polygon(shape.polygon, fill=shape.color)
    return image.filter(ImageFilter.GaussianBlur(radius=0.6))


def _fingerprint(params: dict) -> str:
    return hashlib.sha256(json.dumps(params,
                                     sort_keys=True).encode()).hexdigest()


def _is_complete(root: str, params: dict) -> bool:
    done = osp.join(root, _DONE_FILE)
    if not osp.isfile(done):
        return False
    with open(done) as f:
        return json.load(f).get('fingerprint') == _fingerprint(params)


def _mark_complete(root: str, params: dict, summary: dict) -> None:
    with open(osp.join(root, _DONE_FILE), 'w') as f:
        json.dump(
            dict(
                fingerprint=_fingerprint(params),
                params=params,
                summary=summary),
            f,
            indent=2)


def make_classification_set(root: str,
                            train_per_class: int = 200,
                            val_per_class: int = 50,
                            image_size: int = 96,
                            seed: int = 0,
                            distractors: int = 0) -> Dict[str, int]:
    """Write a shape-classification set in the ImageNet folder layout.

    Each image shows one large shape of its class and, optionally, up to
    ``distractors`` smaller shapes of any class, drawn first so the labelled
    shape is on top.
    The same arguments always give the same files; a set already written with
    them is left as it is.

    Args:
        root: Output folder.
        train_per_class: Training images per class.
        val_per_class: Validation images per class.
        image_size: Side of the square images in pixels.
        seed: Random seed.
        distractors: Maximum number of smaller shapes per image.

    Returns:
        dict: number of images per split.
    """
    params = dict(
        task='classification',
        version=2,
        train_per_class=train_per_class,
        val_per_class=val_per_class,
        image_size=image_size,
        seed=seed,
        distractors=distractors,
        classes=list(SHAPE_CLASSES))
    splits = dict(train=train_per_class, val=val_per_class)
    summary = {split: n * len(SHAPE_CLASSES) for split, n in splits.items()}
    if _is_complete(root, params):
        return summary
    size = (image_size, image_size)
    for split_index, (split, per_class) in enumerate(splits.items()):
        shutil.rmtree(osp.join(root, split), ignore_errors=True)
        rng = np.random.RandomState([seed, split_index])
        for label, name in enumerate(SHAPE_CLASSES):
            folder = osp.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for index in range(per_class):
                background = background_colors(rng)
                shapes = [
                    random_shape(
                        rng,
                        size,
                        radius_range=(0.08, 0.18),
                        avoid_colors=background)
                    for _ in range(rng.randint(distractors + 1))
                ]
                shapes.append(
                    random_shape(
                        rng,
                        size,
                        label,
                        radius_range=(0.25, 0.45),
                        avoid_colors=background))
                render_scene(shapes, size, rng, background).save(
                    osp.join(folder, f'{index:05d}.png'))
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    with open(osp.join(root, 'meta', 'classes.txt'), 'w') as f:
        f.write('\n'.join(SHAPE_CLASSES) + '\n')
    _mark_complete(root, params, summary)
    return summary


def polygon_area(polygon: Sequence[Point]) -> float:
    """Area of a simple polygon (shoelace formula)."""
    xs, ys = np.array(polygon).T
    return float(
        abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))) / 2)


def random_scene(rng: np.random.RandomState, image_size: Tuple[int, int],
                 max_shapes: int, background) -> List[Shape]:
    """1 to ``max_shapes`` shapes whose bounding circles do not overlap."""
    shapes: List[Shape] = []
    circles: List[Tuple[float, float, float]] = []
    for _ in range(int(rng.randint(1, max_shapes + 1))):
        for _attempt in range(20):
            shape = random_shape(
                rng,
                image_size,
                radius_range=(0.1, 0.22),
                avoid_colors=background)
            x, y, w, h = shape.bbox()
            cx, cy, r = x + w / 2, y + h / 2, max(w, h) / 2 * 1.42
            if all((cx - x)**2 + (cy - y)**2 > (r + rr)**2
                   for x, y, rr in circles):
                shapes.append(shape)
                circles.append((cx, cy, r))
                break
    return shapes


def semantic_mask(shapes: Sequence[Shape],
                  image_size: Tuple[int, int]) -> Image.Image:
    """ADE20K-style label map: 0 background, ``label + 1`` inside a shape."""
    mask = Image.new('L', image_size, 0)
    draw = ImageDraw.Draw(mask)
    for shape in shapes:
        draw.polygon(shape.polygon, fill=shape.label + 1)
    return mask


def make_scene_set(root: str,
                   num_train: int = 200,
                   num_val: int = 50,
                   image_size: Tuple[int, int] = (192, 160),
                   seed: int = 0,
                   max_shapes: int = 4) -> Dict[str, int]:
    """Write scenes with instance and semantic annotations of the same shapes.

    Layout (COCO instances for mmdet, ADE20K-style masks for mmseg)::

        ROOT/images/{train,val}/<index>.png
        ROOT/annotations/instances_{train,val}.json   polygons, boxes, areas
        ROOT/masks/{train,val}/<index>.png     0 = background, k + 1 = class k

    Shapes in a scene do not overlap, so every polygon is fully visible and
    agrees with the mask. The same arguments always give the same files.

    Args:
        root: Output folder.
        num_train: Training scenes.
        num_val: Validation scenes.
        image_size: ``(width, height)`` in pixels.
        seed: Random seed.
        max_shapes: Maximum shapes per scene (at least one).

    Returns:
        dict: scenes per split.
    """
    image_size = tuple(image_size)
    params = dict(
        task='scenes',
        version=1,
        num_train=num_train,
        num_val=num_val,
        image_size=list(image_size),
        seed=seed,
        max_shapes=max_shapes,
        classes=list(SHAPE_CLASSES))
    splits = dict(train=num_train, val=num_val)
    if _is_complete(root, params):
        return splits
    categories = [
        dict(id=i + 1, name=name) for i, name in enumerate(SHAPE_CLASSES)
    ]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    for split_index, (split, count) in enumerate(splits.items()):
        for folder in ('images', 'masks'):
            shutil.rmtree(osp.join(root, folder, split), ignore_errors=True)
            os.makedirs(osp.join(root, folder, split))
        rng = np.random.RandomState([seed, 100 + split_index])
        images, annotations = [], []
        for index in range(count):
            background = background_colors(rng)
            shapes = random_scene(rng, image_size, max_shapes, background)
            name = f'{index:05d}.png'
            render_scene(shapes, image_size, rng, background).save(
                osp.join(root, 'images', split, name))
            semantic_mask(shapes, image_size).save(
                osp.join(root, 'masks', split, name))
            images.append(
                dict(
                    id=index,
                    file_name=name,
                    width=image_size[0],
                    height=image_size[1]))
            for shape in shapes:
                annotations.append(
                    dict(
                        id=len(annotations) + 1,
                        image_id=index,
                        category_id=shape.label + 1,
                        iscrowd=0,
                        bbox=[round(v, 2) for v in shape.bbox()],
                        area=round(polygon_area(shape.polygon), 2),
                        segmentation=[[
                            round(c, 2) for point in shape.polygon
                            for c in point
                        ]]))
        with open(
                osp.join(root, 'annotations', f'instances_{split}.json'),
                'w') as f:
            json.dump(
                dict(
                    images=images,
                    annotations=annotations,
                    categories=categories), f)
    _mark_complete(root, params, splits)
    return splits
