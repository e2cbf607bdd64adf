"""mmvig.datasets.checks: missing annotation files, empty segmentations and
images that do not decode are named before or while the data load."""
import json
import os.path as osp

import pytest
from mmengine.registry import DefaultScope

from mmvig.apis import read_config
from mmvig.datasets import check_data_paths, check_instance_masks
from mmvig.errors import InputError


def test_missing_evaluator_annotation_file(scenes):
    cfg = read_config('configs/demo/mask_rcnn_attentionvig_s_scenes.py')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = scenes
    cfg.val_evaluator.ann_file = osp.join(scenes, 'missing.json')
    with pytest.raises(
            FileNotFoundError,
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
            ann_file=str(ann_file),
            data_prefix=dict(img=osp.join(scenes, 'images', 'train') + '/'),
            metainfo=dict(
                classes=tuple(c['name'] for c in coco['categories'])),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', with_bbox=True, with_mask=True)
            ])
    with pytest.raises(
            InputError,
            match=rf'broken.json: instance \d+ of '
            rf'image .*{image["file_name"]} has no mask'):
        check_instance_masks(dataset)


def test_an_image_that_does_not_decode_names_the_file(shapes, tmp_path):
    from mmcv.transforms import LoadImageFromFile

    from mmvig.datasets import read_image
    from mmvig.datasets.checks import NamedImageLoading
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
        with pytest.raises(
                InputError,
                match=rf'{path} is too large to '
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


def test_annotations_mmdet_drops_are_named_once(scenes, tmp_path):
    """Each kind of degenerate annotation, put into the synthetic COCO file,
    is one mmdet's CocoDataset drops (or whose polygon LoadAnnotations
    ignores): the warning counts them by kind with their ids, once per
    file; a clean file gives none."""
    import warnings

    from mmdet.datasets import CocoDataset

    from mmvig.datasets.checks import (DroppedAnnotationsWarning,
                                       warn_dropped_annotations)
    with open(osp.join(scenes, 'annotations', 'instances_train.json')) as f:
        coco = json.load(f)
    anns = coco['annotations']
    nan = float('nan')
    anns[0]['segmentation'] = [[1.0, 1.0, 5.0, 5.0]]  # two points
    anns[1]['segmentation'] = [[3.0, 3.0]]  # one point
    anns[2]['bbox'] = [nan, 4.0, 10.0, 10.0]
    anns[3]['bbox'][2] = float('-inf')
    anns[4]['area'] = -5.0
    anns[5]['category_id'] = 999
    anns[6]['bbox'] = [10_000.0, 10_000.0, 5.0, 5.0]  # outside its image
    ann_file = tmp_path / 'degenerate.json'
    ann_file.write_text(json.dumps(coco))
    clean_file = tmp_path / 'clean.json'
    clean_file.write_text(
        json.dumps(
            json.load(
                open(osp.join(scenes, 'annotations',
                              'instances_train.json')))))
    classes = tuple(c['name'] for c in coco['categories'])
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True)
    ]

    def build(path):
        with DefaultScope.overwrite_default_scope('mmdet'):
            return CocoDataset(
                ann_file=str(path),
                data_prefix=dict(
                    img=osp.join(scenes, 'images', 'train') + '/'),
                metainfo=dict(classes=classes),
                pipeline=pipeline)

    dataset = build(ann_file)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    # what mmdet does with them: the boxes are gone, and the short polygons
    # are loaded as ignored instances
    assert sum(len(d['instances']) for d in infos) == len(anns) - 5
    with DefaultScope.overwrite_default_scope('mmdet'):
        for ann in anns[:2]:
            index = next(j for j, d in enumerate(infos)
                         if d['img_id'] == ann['image_id'])
            assert dataset.pipeline(
                dataset.get_data_info(index))['gt_ignore_flags'].any()
    with pytest.warns(DroppedAnnotationsWarning) as record:
        assert warn_dropped_annotations(dataset) == 7
    message = str(record[0].message)
    assert message.startswith(f'{ann_file}: mmdet drops, ignores or cannot '
                              f'use 7 of {len(anns)} annotations: ')
    for text in (f'2 with a polygon of fewer than three points (ids '
                 f'{anns[0]["id"]}, {anns[1]["id"]})',
                 f'2 with a box that is not finite (NaN or infinity) '
                 f'(ids {anns[2]["id"]}, {anns[3]["id"]})',
                 f'1 with a box under a pixel wide or high, or an area <= 0 '
                 f'(id {anns[4]["id"]})',
                 f"1 with a category id not among the file's categories "
                 f'(id {anns[5]["id"]})',
                 f'1 with a box outside its image (id {anns[6]["id"]})'):
        assert text in message, message
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert warn_dropped_annotations(dataset) == 0  # once per file
        assert warn_dropped_annotations(build(clean_file)) == 0
