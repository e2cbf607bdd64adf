"""mmvig.datasets.checks: missing annotation files, empty segmentations and
images that do not decode are named before or while the data load."""
import json
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmvig.datasets import check_data_paths, check_instance_masks
from mmvig.errors import InputError


def test_missing_evaluator_annotation_file(scenes):
    cfg = Config.fromfile('configs/demo/mask_rcnn_attentionvig_s_scenes.py')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = scenes
    cfg.val_evaluator.ann_file = osp.join(scenes, 'missing.json')
    with pytest.raises(FileNotFoundError,
                       match=r'val_evaluator\.ann_file.*missing\.json'):
        check_data_paths(cfg)


def test_coco_annotation_with_empty_segmentation(scenes, tmp_path):
    from mmdet.datasets import CocoDataset
    with open(osp.join(scenes, 'annotations', 'instances_train.json')) as f:
        coco = json.load(f)
    coco['annotations'][3]['segmentation'] = []
    image = next(i for i in coco['images']
                 if i['id'] == coco['annotations'][3]['image_id'])
    ann_file = tmp_path / 'broken.json'
    ann_file.write_text(json.dumps(coco))
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = CocoDataset(
            ann_file=str(ann_file), data_prefix=dict(img=osp.join(
                scenes, 'images', 'train') + '/'),
            metainfo=dict(classes=tuple(c['name']
                                        for c in coco['categories'])),
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations', with_bbox=True,
                           with_mask=True)])
    with pytest.raises(InputError, match=rf'broken.json: instance \d+ of '
                       rf'image .*{image["file_name"]} has no mask'):
        check_instance_masks(dataset)


def test_an_image_that_does_not_decode_names_the_file(shapes, tmp_path):
    from mmvig.datasets import read_image
    from mmvig.datasets.checks import NamedImageLoading
    from mmcv.transforms import LoadImageFromFile
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    garbage = tmp_path / 'garbage.png'
    garbage.write_bytes(b'not an image' * 10)
    for path, what in ((empty, r'is empty \(0 bytes\)'),
                       (garbage, 'cannot be decoded as an image')):
        with pytest.raises(InputError, match=f'{path} {what}'):
            read_image(str(path))
        with pytest.raises(InputError, match=f'{path} {what}'):
            NamedImageLoading(LoadImageFromFile())(dict(img_path=str(path)))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        read_image(str(tmp_path / 'missing.png'))
    image = osp.join(shapes, 'val', 'circle', '00000.png')
    loaded = NamedImageLoading(LoadImageFromFile())(dict(img_path=image))
    assert loaded['img'].shape == read_image(image).shape
