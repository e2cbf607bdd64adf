"""Data transforms of the lineage recipes."""
import math
from typing import Tuple

import mmcv
from mmcv.transforms import Resize

from ..registry import TRANSFORMS


@TRANSFORMS.register_module()
class AlignResize(Resize):
    """Resize keeping the aspect ratio to fit ``scale``, then stretch the
    image to the next multiple of ``size_divisor`` on each side (no padding).

    The ADE20K test resize of PoolFormer's segmentation code, which the
    GreedyViG, MobileViG and AdaptViG Semantic FPN results were evaluated
    with (their ``align_resize.py``: ``mmcv.imrescale`` then ``mmcv.imresize``
    to the aligned size, both bilinear). A ground-truth map present is
    resized the same way, nearest.

    Args:
        scale: ``(long, short)`` bound of the keep-ratio resize.
        size_divisor: Each side of the result is a multiple of it.
        **kwargs: ``interpolation``, ``backend`` of mmcv's ``Resize``.
    """

    def __init__(self,
                 scale: Tuple[int, int],
                 size_divisor: int = 32,
                 **kwargs) -> None:
        super().__init__(scale=scale, keep_ratio=True, **kwargs)
        self.size_divisor = size_divisor

    def _aligned(self, height: int, width: int) -> Tuple[int, int]:
        """``(width, height)`` rounded up to multiples of the divisor."""
        d = self.size_divisor
        return math.ceil(width / d) * d, math.ceil(height / d) * d

    def _resize_img(self, results: dict) -> None:
        super()._resize_img(results)
        if results.get('img') is None:
            return
        height, width = results['img'].shape[:2]
        results['img'] = mmcv.imresize(
            results['img'],
            self._aligned(height, width),
            interpolation=self.interpolation,
            backend=self.backend)
        results['img_shape'] = results['img'].shape[:2]
        new_h, new_w = results['img_shape']
        scale_w, scale_h = results['scale_factor']
        results['scale_factor'] = (scale_w * new_w / width,
                                   scale_h * new_h / height)

    def _resize_seg(self, results: dict) -> None:
        if results.get('gt_seg_map') is not None:
            height, width = results['img_shape']
            results['gt_seg_map'] = mmcv.imresize(
                results['gt_seg_map'], (width, height),
                interpolation='nearest',
                backend=self.backend)
