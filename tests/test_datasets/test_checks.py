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


def _png_header(path, width: int, height: int) -> None:
    """A PNG that declares ``width`` x ``height`` pixels (header only: a few
    dozen bytes stand for gigabytes once decoded)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack('>I', len(data)) + kind + data +
                struct.pack('>I', zlib.crc32(kind + data)))

    header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) +
                     chunk(b'IDAT', zlib.compress(b'\x00' * 64)) +
                     chunk(b'IEND', b''))


@pytest.mark.parametrize('size', [(30000, 30000), (20000, 10000)])
def test_an_image_bomb_is_refused_before_it_is_decoded(size, tmp_path,
                                                       monkeypatch):
    from mmcv.transforms import LoadImageFromFile

    from mmvig.datasets import read_image
    from mmvig.datasets.checks import NamedImageLoading
    path = tmp_path / 'bomb.png'
    _png_header(path, *size)
    loading = NamedImageLoading(LoadImageFromFile())
    for load in (lambda: read_image(str(path)),
                 lambda: loading(dict(img_path=str(path)))):
        with pytest.raises(InputError, match=rf'{path} is too large to '
                           r'decode .*MMVIG_MAX_IMAGE_PIXELS=N'):
            load()
    # a higher limit lets it through to the decoder (which then says the
    # file is damaged: it holds no pixels)
    monkeypatch.setenv('MMVIG_MAX_IMAGE_PIXELS', str(size[0] * size[1]))
    with pytest.raises(InputError, match='cannot be decoded'):
        read_image(str(path))
    monkeypatch.setenv('MMVIG_MAX_IMAGE_PIXELS', 'lots')
    with pytest.raises(InputError, match="MMVIG_MAX_IMAGE_PIXELS='lots'"):
        read_image(str(path))
