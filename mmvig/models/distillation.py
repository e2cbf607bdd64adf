"""DeiT-style hard distillation on mmpretrain: the AttentionViG head with its
distillation head, the classifier that trains it from a teacher, and the
check that the teacher's weights can be read before training starts.

Importing this module needs mmpretrain; :mod:`mmvig.registry` only does so
when mmpretrain is installed.
"""
import copy
import os.path as osp
import socket
import urllib.parse
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ..errors import InputError
from ..registry import MODELS
from ..safe_load import read_checkpoint
from ..typing_utils import ConfigType
from .fold import fold_conv_modules, fold_parts
from .heads import distilled_logits, hidden_features, init_distilled_head
from .pretrained import select_weights, without_module_prefix


@MODELS.register_module()
class AttentionViGClsHead(ClsHead):
    """AttentionViG classification head with a distillation head.

    Training: ``0.5 * loss(head) + 0.5 * loss(dist_head)``, where the
    distillation target is the teacher's hard label when a teacher is
    given (DeiT hard distillation) and the ground truth otherwise.
    Inference averages the two heads' logits.

    Args:
        num_classes: Classes.
        in_channels: Channels of the last backbone stage.
        hidden_channels: Width of the hidden layer (paper: 768).
        dropout: Dropout before the linear heads.
        norm_cfg: Norm layer config.
        act_cfg: Activation config.
        loss: Loss of both heads against the ground truth.
        **kwargs: ``topk``, ``cal_acc``, ``init_cfg`` of ``ClsHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 hidden_channels: int = 768,
                 dropout: float = 0.,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='GELU'),
                 loss: ConfigType = dict(type='CrossEntropyLoss'),
                 init_cfg: Optional[ConfigType] = dict(
                     type='TruncNormal', layer='Linear', std=0.02),
                 **kwargs) -> None:
        super().__init__(loss=loss, init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise InputError(
                f'num_classes must be positive, got {num_classes}')
        self.num_classes = num_classes
        init_distilled_head(self, in_channels, num_classes, hidden_channels,
                            dropout, norm_cfg, act_cfg)

    def switch_to_deploy(self) -> None:
        """Fold the hidden layer's BatchNorm (running statistics) into its
        conv, in either mode."""
        fold_conv_modules(self)

    def pre_logits(self, feats: Tuple[Tensor, ...]) -> Tensor:
        """Pooled hidden features ``(B, hidden_channels)``."""
        return hidden_features(self, feats[-1])

    def forward(self, feats: Tuple[Tensor, ...]) -> Tensor:
        """Mean of the two heads' logits, ``(B, num_classes)``."""
        cls_logits, dist_logits = distilled_logits(self, feats[-1])
        return (cls_logits + dist_logits) / 2

    def loss(self,
             feats: Tuple[Tensor, ...],
             data_samples: List[DataSample],
             teacher_logits: Optional[Tensor] = None) -> dict:
        cls_logits, dist_logits = distilled_logits(self, feats[-1])
        losses = dict(loss_cls=0.5 *
                      self._get_loss(cls_logits, data_samples)['loss'])
        if teacher_logits is None:
            loss_dist = self._get_loss(dist_logits, data_samples)['loss']
        else:
            loss_dist = F.cross_entropy(dist_logits,
                                        teacher_logits.argmax(dim=1))
        losses['loss_dist'] = 0.5 * loss_dist
        if self.cal_acc:
            target = torch.cat([s.gt_label for s in data_samples])
            accs = Accuracy.calculate(
                (cls_logits + dist_logits) / 2, target, topk=self.topk)
            losses.update({
                f'accuracy_top-{k}': a
                for k, a in zip(self.topk, accs)
            })
        return losses


def check_teacher_weights(teacher: ConfigType, timeout: float = 3.0) -> None:
    """Fail within seconds, naming the teacher and the ways out, when a timm
    teacher's pretrained weights are neither on disk nor downloadable.

    Without this, timm's download retries for about a minute on a machine
    without internet (most clusters' compute nodes) and then fails deep in
    huggingface_hub. Looks in huggingface_hub's cache and torch hub's, then
    tries one connection to the hub (``timeout`` seconds); changes nothing.

    Raises:
        FileNotFoundError: ``pretrained_cfg_overlay`` names a missing file.
        InputError: the weights are not cached and the hub is unreachable.
    """
    if not isinstance(teacher, dict) or teacher.get('type') not in (
            'TimmClassifier', 'mmpretrain.TimmClassifier') or \
            not teacher.get('pretrained'):
        return
    name = teacher.get('model_name')
    overlay = teacher.get('pretrained_cfg_overlay') or {}
    if overlay.get('file'):
        if not osp.isfile(osp.expanduser(overlay['file'])):
            raise FileNotFoundError(
                f"The teacher's weights file {overlay['file']} "
                "(model.teacher.pretrained_cfg_overlay.file) does not exist")
        return
    import huggingface_hub
    from huggingface_hub import constants
    from timm.models import get_pretrained_cfg
    cfg = get_pretrained_cfg(name)
    if cfg is None:
        return  # timm names the unknown model itself
    if cfg.hf_hub_id and any(
            isinstance(
                huggingface_hub.try_to_load_from_cache(cfg.hf_hub_id,
                                                       filename), str)
            for filename in ('model.safetensors', 'pytorch_model.bin')):
        return
    if cfg.url and osp.isfile(
            osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(
                cfg.url))):
        return
    reason = 'HF_HUB_OFFLINE is set' if constants.HF_HUB_OFFLINE else None
    if reason is None:
        endpoint = urllib.parse.urlparse(constants.ENDPOINT)
        port = endpoint.port or (443 if endpoint.scheme == 'https' else 80)
        try:
            socket.create_connection((endpoint.hostname, port),
                                     timeout=timeout).close()
        except OSError as error:
            reason = (f'{endpoint.hostname}:{port} cannot be reached '
                      f'({error})')
    if reason is not None:
        raise InputError(
            f"The distillation teacher {name!r} needs its pretrained "
            f'weights, which are not in the local caches, and {reason}. '
            'Either download them once on a machine with internet and pass '
            'the file (--cfg-options '
            'model.teacher.pretrained_cfg_overlay.file=PATH, or '
            "pretrained_cfg_overlay=dict(file=PATH) in the config's "
            'teacher), or train without distillation (--cfg-options '
            'model.teacher=None).')


@MODELS.register_module()
class DistillationClassifier(ImageClassifier):
    """Image classifier trained with DeiT-style hard distillation.

    The teacher is built from its config, frozen and kept in eval mode. It is
    not a registered submodule: it is absent from ``state_dict()`` (checkpoints
    carry the student only, and load straight into the dense backbones), from
    ``parameters()`` (the optimizer, DDP and an EMA of the weights never see
    it), yet it follows the student across devices. Deep copies of the
    classifier (mmengine's EMA model) share the one teacher. Without a teacher
    this is a plain ``ImageClassifier`` whose two heads both learn from the
    labels.

    Args:
        teacher: Config of any mmpretrain classifier, e.g.
            ``dict(type='TimmClassifier', model_name='regnety_160.deit_in1k',
            pretrained=True)``; its ``forward(x, mode='tensor')`` must return
            logits. A timm teacher whose weights can be neither found nor
            downloaded stops the build at once
            (:func:`check_teacher_weights`).
        teacher_checkpoint: Optional checkpoint loaded into the teacher
            (safely, every key checked; its ``state_dict``, ``model`` or the
            plain dict).
        **kwargs: Arguments of ``ImageClassifier``; the head must accept
            ``teacher_logits`` in ``loss`` (:class:`AttentionViGClsHead`).
    """

    def __init__(self,
                 *args,
                 teacher: Optional[ConfigType] = None,
                 teacher_checkpoint: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.teacher_checkpoint = teacher_checkpoint
        teacher_model = None
        if teacher is not None:
            check_teacher_weights(teacher)
            teacher_model = MMPRETRAIN_MODELS.build(teacher)
            teacher_model.requires_grad_(False)
            teacher_model.eval()
        # Bypass nn.Module registration: see the class docstring.
        object.__setattr__(self, 'teacher', teacher_model)

    def __deepcopy__(self, memo: dict) -> 'DistillationClassifier':
        """Copies (mmengine's EMA model is one) share the frozen teacher."""
        memo[id(self.teacher)] = self.teacher
        copied = self.__class__.__new__(self.__class__)
        memo[id(self)] = copied
        copied.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return copied

    def switch_to_deploy(self) -> None:
        """Fold backbone and head for inference (mmpretrain's convention;
        eval mode only): see ``AttentionViG.switch_to_deploy``."""
        fold_parts(self)

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        if self.teacher is not None:
            self.teacher._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True) -> 'DistillationClassifier':
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def init_weights(self) -> None:
        super().init_weights()
        if self.teacher is None:
            return
        if self.teacher_checkpoint:
            state_dict, _ = select_weights(
                read_checkpoint(self.teacher_checkpoint), 'raw')
            self.teacher.load_state_dict(without_module_prefix(state_dict))
        else:
            self.teacher.init_weights()

    def loss(self, inputs: Tensor, data_samples: List[DataSample]) -> dict:
        feats = self.extract_feat(inputs)
        if self.teacher is None:
            return self.head.loss(feats, data_samples)
        with torch.no_grad():
            teacher_logits = self.teacher(inputs, mode='tensor')
        return self.head.loss(
            feats, data_samples, teacher_logits=teacher_logits)
