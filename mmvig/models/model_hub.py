"""mmvig's models in mmpretrain's model hub.

Once mmvig and ``mmpretrain.apis`` are imported (in either order),
``mmpretrain.get_model('attentionvig-s_in1k')``,
``mmpretrain.list_models('*attentionvig*')`` and mmpretrain's inferencers
take the names of the image classifiers of mmvig's model index
(``model-index.yml``: the metafiles of ``configs/attentionvig``,
``configs/greedyvig``, ``configs/mobilevig``, ``configs/adaptvig`` and
``configs/sagvit``; the detectors and segmentors
there are mmdet's and mmseg's to build), as the documented
``ModelHub.register_model_index`` lets a package add its own. The index and
the configs are read from mmvig's checkout (an editable install, as
``tools/setup_env.sh`` makes); without it nothing is registered. A model of
the hub is built for inference: a classifier trained by distillation comes
without its teacher (the teacher takes no part in a prediction).

mmvig publishes no weights. A model's weights are named
``mmvig://no-published-weights/<model>``, a scheme whose loader refuses with
the command that trains them (for the authors' lineage models, where to
download theirs and the command that converts them):
``get_model(name, pretrained=True)`` and an inferencer (``pretrained=True``
by default) stop with that message instead of mmpretrain's warning and
random weights; ``pretrained=False`` builds the
model initialised, ``pretrained=PATH`` loads a checkpoint of its config.
"""
import os.path as osp

from mmengine.config import Config
from mmengine.runner.checkpoint import CheckpointLoader
from mmpretrain.apis import ModelHub
from modelindex.load_model_index import load
from modelindex.models.Model import Model

from ..errors import InputError
from ..seams import add_to_model_hub, config_package_names, model_hub_entry

MODEL_INDEX = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
    'model-index.yml')
NO_WEIGHTS = 'mmvig://no-published-weights/'


@CheckpointLoader.register_scheme(prefixes=NO_WEIGHTS)
def load_from_mmvig_unpublished(filename: str, map_location=None):
    name = filename[len(NO_WEIGHTS):]
    model = model_hub_entry(name)
    config = osp.relpath(model.data['Config'], osp.dirname(MODEL_INDEX)) \
        if isinstance(model, HubModel) else 'its config'
    if isinstance(model, HubModel) and model.data.get('Converted From'):
        source = model.data['Converted From'].get('Weights')
        raise InputError(
            f"mmvig hosts no weights for {name}: download the authors' "
            f'({source}), convert them (python tools/model_converters/'
            f'lineage_to_mmvig.py {config} SRC DST) and pass '
            'pretrained=DST, or pretrained=False for an initialised model.')
    raise InputError(
        f'mmvig publishes no pretrained weights for {name}: train them '
        f'(tools/train.py {config}) and pass pretrained=PATH of the '
        'checkpoint, or pretrained=False for an initialised model.')


class HubModel(Model):
    """A model of mmvig's index as mmpretrain's hub reads it: its config
    (a path in the index) is read when asked for, without the distillation
    teacher."""

    @property
    def config(self):
        value = self.data.get('Config')
        if not isinstance(value, str):
            return value
        with config_package_names():
            config = Config.fromfile(value)
        if config.model.get('teacher') is not None:
            config.model.teacher = None
        return config

    @config.setter
    def config(self, value) -> None:
        self.data['Config'] = value


def register_model_index(path: str = MODEL_INDEX) -> int:
    """Register the models of the index at ``path`` with mmpretrain's
    ``ModelHub`` (a name registered already is left as it is); returns how
    many were added."""
    if not osp.isfile(path):
        return 0
    index = load(path)
    index.build_models_with_collections()
    added = 0
    for model in index.models:
        name = model.name.lower()
        # mmpretrain's hub builds classifiers only: mmvig's detector and
        # segmentor configs are named for their head (mask_rcnn_*, fpn_*)
        downstream = osp.basename(model.config).startswith(
            ('mask_rcnn_', 'fpn_'))
        if ModelHub.has(name) or downstream:
            continue
        config = osp.join(osp.dirname(path), model.config)
        hub_model = HubModel(
            name=name,
            metadata=model.metadata,
            results=model.results,
            paper=model.paper,
            code=model.code,
            weights=NO_WEIGHTS + name,
            config=config,
            readme=model.readme,
            in_collection=model.in_collection,
            _filepath=model.filepath)
        if model.data.get('Converted From'):
            hub_model.data['Converted From'] = model.data['Converted From']
        add_to_model_hub(name, hub_model)
        added += 1
    return added


register_model_index()
