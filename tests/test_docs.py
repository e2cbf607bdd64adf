"""README, docs/ and the model pages: short README, links and anchors
resolve, every path shown exists, the metafiles match the configs."""
import glob
import itertools
import os.path as osp
import re

import pytest
import yaml

from mmvig.apis import read_config

PAGES = sorted(['README.md'] + glob.glob('docs/*.md') +
               glob.glob('configs/*/README.md'))


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r'[^\w\- ]', '', title.strip().lower()).replace(' ', '-')


def _anchors(page: str) -> set:
    with open(page) as f:
        return {
            _anchor(m.group(1))
            for m in re.finditer(r'^#+ (.+)$', f.read(), flags=re.M)
        }


def test_readme_is_short():
    with open('README.md') as f:
        assert len(f.read().splitlines()) <= 250


@pytest.mark.parametrize('page', PAGES)
def test_links_resolve(page):
    """Every relative link names an existing file, and its ``#anchor`` a
    heading there."""
    with open(page) as f:
        text = f.read()
    links = re.findall(r'\]\(([^)\s]+)\)', text)
    assert links or page.startswith('docs/')
    for link in links:
        if link.startswith(('http://', 'https://')):
            continue
        path, _, anchor = link.partition('#')
        target = osp.normpath(osp.join(osp.dirname(page), path)) if path \
            else page
        assert osp.exists(target), f'{page}: {link}'
        if anchor:
            assert anchor in _anchors(target), f'{page}: {link}'


def _expand(path: str):
    """``configs/x_{s,m}_y.py`` -> both paths."""
    parts = re.split(r'\{([^}]*)\}', path)
    choices = [p.split(',') if i % 2 else [p] for i, p in enumerate(parts)]
    return [''.join(c) for c in itertools.product(*choices)]


@pytest.mark.parametrize('page', PAGES)
def test_config_paths_exist(page):
    """Every ``configs/...py`` (and tool) path a page shows exists, the
    mission's ``tools/dist_train.sh configs/mask_rcnn_attentionvig_b_coco.py``
    included."""
    with open(page) as f:
        text = f.read()
    paths = re.findall(
        r'(?<![\w/.])((?:configs|tools|benchmarks|tests)/'
        r'[\w/{},.-]+\.(?:py|sh))', text)
    for path in paths:
        for one in _expand(path):
            assert osp.exists(one), f'{page}: {one}'
    if page == 'configs/attentionvig/README.md':
        assert 'configs/mask_rcnn_attentionvig_b_coco.py' in text


def _metafiles():
    with open('model-index.yml') as f:
        return yaml.safe_load(f)['Import']


def test_model_index_lists_every_family():
    assert sorted(_metafiles()) == sorted(glob.glob('configs/*/metafile.yml'))


@pytest.mark.parametrize('metafile', _metafiles())
@pytest.mark.long
def test_metafile_matches_the_configs(metafile):
    """mmpretrain's metafile fields: collections with a README, models whose
    config exists and whose parameter count is the classifier's."""
    import torch
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    import mmvig  # noqa: F401
    with open(metafile) as f:
        meta = yaml.safe_load(f)
    names = {c['Name'] for c in meta['Collections']}
    for collection in meta['Collections']:
        assert osp.exists(collection['README'])
        assert collection['Paper']['Title']
    for model in meta['Models']:
        assert model['In Collection'] in names
        assert osp.exists(model['Config']), model['Config']
        params = model.get('Metadata', {}).get('Parameters')
        if params is None:
            continue
        cfg = read_config(model['Config'])
        cfg.model.pop('teacher', None)
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            built = MODELS.build(cfg.model)
        count = sum(p.numel() for n, p in built.named_parameters()
                    if not n.startswith('teacher'))
        assert abs(count / params - 1) < 0.005, (model['Name'], count)
        del built
        torch.cuda.empty_cache() if torch.cuda.is_available() else None


@pytest.mark.parametrize('metafile', _metafiles())
def test_model_pages_show_the_metafiles_numbers(metafile):
    """Each model of a metafile has a row in its family's page that links
    its config and shows its parameters (M), FLOPs (G) and every metric."""
    with open(metafile) as f:
        meta = yaml.safe_load(f)
    for collection in meta['Collections']:
        page = collection['README']
        with open(page) as f:
            rows = [line for line in f if line.startswith('|')]
        for model in meta['Models']:
            if model['In Collection'] != collection['Name']:
                continue
            link = osp.relpath(model['Config'], osp.dirname(page))
            row = [r for r in rows if f']({link})' in r]
            assert row, f'{page}: no row links {link}'
            cells = [c.strip() for c in row[0].split('|')]
            shown = [
                f"{model['Metadata'][key] / scale:.2f}"
                for key, scale in (('Parameters', 1e6), ('FLOPs', 1e9))
                if key in model.get('Metadata', {})
            ]
            shown += [
                str(value) for result in model.get('Results', [])
                for value in result['Metrics'].values()
            ]
            for number in shown:
                assert any(c == number or c.startswith(number + ' ')
                           for c in cells), (page, model['Name'], number)
