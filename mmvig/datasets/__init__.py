from .checks import (check_data_paths, check_instance_masks,
                     name_unreadable_images, read_image)
from .synthetic import SHAPE_CLASSES, make_classification_set, make_scene_set
from .transforms import AlignResize

__all__ = [
    'AlignResize', 'SHAPE_CLASSES', 'check_data_paths', 'check_instance_masks',
    'make_classification_set', 'make_scene_set', 'name_unreadable_images',
    'read_image'
]
