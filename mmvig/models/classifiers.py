"""mmpretrain models: the AttentionViG head and DeiT-style hard distillation.

Importing this module needs mmpretrain; :mod:`mmvig.registry` only does so
when mmpretrain is installed.
"""
import copy
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ..checkpoint import load_checkpoint
from ..errors import InputError
from ..utils import ConfigType
from .checkpoint import select_weights, without_module_prefix
from .fold import check_eval, fold_conv_modules
from .heads import distilled_logits, hidden_features, init_distilled_head


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

    def __init__(self, num_classes: int, in_channels: int,
                 hidden_channels: int = 768, dropout: float = 0.,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='GELU'),
                 loss: ConfigType = dict(type='CrossEntropyLoss'),
                 init_cfg: Optional[ConfigType] = dict(
                     type='TruncNormal', layer='Linear', std=0.02),
                 **kwargs) -> None:
        super().__init__(loss=loss, init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise InputError(f'num_classes must be positive, got {num_classes}')
        self.num_classes = num_classes
        init_distilled_head(self, in_channels, num_classes,
                            hidden_channels, dropout, norm_cfg, act_cfg)

    def switch_to_deploy(self) -> None:
        """Fold the hidden layer's BatchNorm into its conv (eval mode)."""
        check_eval(self)
        fold_conv_modules(self)

    def pre_logits(self, feats: Tuple[Tensor, ...]) -> Tensor:
        """Pooled hidden features ``(B, hidden_channels)``."""
        return hidden_features(self, feats[-1])

    def forward(self, feats: Tuple[Tensor, ...]) -> Tensor:
        """Mean of the two heads' logits, ``(B, num_classes)``."""
        cls_logits, dist_logits = distilled_logits(self, feats[-1])
        return (cls_logits + dist_logits) / 2

    def loss(self, feats: Tuple[Tensor, ...],
             data_samples: List[DataSample],
             teacher_logits: Optional[Tensor] = None) -> dict:
        cls_logits, dist_logits = distilled_logits(self, feats[-1])
        losses = dict(
            loss_cls=0.5 * self._get_loss(cls_logits, data_samples)['loss'])
        if teacher_logits is None:
            loss_dist = self._get_loss(dist_logits, data_samples)['loss']
        else:
            loss_dist = F.cross_entropy(dist_logits,
                                        teacher_logits.argmax(dim=1))
        losses['loss_dist'] = 0.5 * loss_dist
        if self.cal_acc:
            target = torch.cat([s.gt_label for s in data_samples])
            accs = Accuracy.calculate((cls_logits + dist_logits) / 2,
                                      target, topk=self.topk)
            losses.update(
                {f'accuracy_top-{k}': a for k, a in zip(self.topk, accs)})
        return losses


class DistillationClassifier(ImageClassifier):
    """Image classifier trained with DeiT-style hard distillation.

    The teacher is built from its config, frozen and kept in eval mode. It is
    not a registered submodule: it is absent from ``state_dict()`` (checkpoints
    carry the student only, and load straight into the dense backbones), from
    ``parameters()`` (the optimizer, DDP and an EMA of the weights never see
    it), yet it follows the student across devices. Deep copies of the
    classifier (mmengine's EMA model) share the one teacher. Without a teacher this is a plain
    ``ImageClassifier`` whose two heads both learn from the labels.

    Args:
        teacher: Config of any mmpretrain classifier, e.g.
            ``dict(type='TimmClassifier', model_name='regnety_160.deit_in1k',
            pretrained=True)``; its ``forward(x, mode='tensor')`` must return
            logits.
        teacher_checkpoint: Optional checkpoint loaded into the teacher
            (safely, every key checked; its ``state_dict``, ``model`` or the
            plain dict).
        **kwargs: Arguments of ``ImageClassifier``; the head must accept
            ``teacher_logits`` in ``loss`` (:class:`AttentionViGClsHead`).
    """

    def __init__(self, *args, teacher: Optional[ConfigType] = None,
                 teacher_checkpoint: Optional[str] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.teacher_checkpoint = teacher_checkpoint
        teacher_model = None
        if teacher is not None:
            teacher_model = MODELS.build(teacher)
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
        for part in (self.backbone, self.neck, self.head):
            if hasattr(part, 'switch_to_deploy'):
                part.switch_to_deploy()

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
                load_checkpoint(self.teacher_checkpoint), 'raw')
            self.teacher.load_state_dict(without_module_prefix(state_dict))
        else:
            self.teacher.init_weights()

    def loss(self, inputs: Tensor, data_samples: List[DataSample]) -> dict:
        feats = self.extract_feat(inputs)
        if self.teacher is None:
            return self.head.loss(feats, data_samples)
        with torch.no_grad():
            teacher_logits = self.teacher(inputs, mode='tensor')
        return self.head.loss(feats, data_samples,
                              teacher_logits=teacher_logits)
