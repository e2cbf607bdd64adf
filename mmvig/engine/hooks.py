"""mmvig's hooks.

:class:`FreezeBetaHook`: on COCO and ADE20K the paper keeps the ``beta``
learned on ImageNet fixed (Sec. 4.2, Table 9); the hook does that for any
model whose modules carry a ``log_beta`` parameter, under mmpretrain, mmdet
or mmseg.

:class:`StrictLoadHook`: a checkpoint loaded into the whole model
(``load_from``, ``resume``, ``tools/test.py``) that does not fit it stops the
run, instead of mmengine's warning and a run with part of the weights.

:class:`DataCheckHook`: checks the built training data before the first
step (:func:`mmvig.datasets.check_instance_masks`).

:class:`DivergenceHook`: stops a run at its first non-finite loss, before a
checkpoint of NaN weights is written.

:class:`AtomicCheckpointHook`: mmengine's ``CheckpointHook`` whose save a
crash cannot lose: the new checkpoint is complete before an old one is
deleted.
"""
import copy
import math
import os
import os.path as osp
from typing import Iterator, List, Optional, Tuple

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from torch import nn

from ..registry import HOOKS
from ..seams import runner_checkpoint

TEMPERATURE_NAME = 'log_beta'


def temperature_parameters(
        model: nn.Module) -> Iterator[Tuple[str, nn.Parameter]]:
    """``(name, parameter)`` of every attention temperature in ``model``."""
    for name, param in model.named_parameters():
        if name.rsplit('.', 1)[-1] == TEMPERATURE_NAME:
            yield name, param


@HOOKS.register_module()
class FreezeBetaHook(Hook):
    """Keep every attention temperature ``beta`` fixed during training.

    Before the run, every ``log_beta`` parameter stops requiring gradients, so
    neither the optimizer (gradient ``None`` means no step and no weight
    decay) nor DDP touches it: ``beta`` stays bit-identical, after a resume
    too. A model already wrapped in DDP is wrapped again, so that DDP does not
    wait for gradients the frozen parameters will never get. A model with no
    temperature is an error: the config asked to freeze something that is not
    there.

    Leave the hook out of ``custom_hooks`` to train ``beta`` (the paper's
    Table 9 ablation).
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        module = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        frozen: List[str] = []
        for name, param in temperature_parameters(module):
            param.requires_grad_(False)
            frozen.append(name)
        if not frozen:
            raise RuntimeError(
                'FreezeBetaHook found no attention temperature '
                f'(`{TEMPERATURE_NAME}` parameter) in {type(module).__name__}.'
                ' Remove the hook from custom_hooks, or use a backbone with '
                'cross-attention aggregation.')
        if is_model_wrapper(runner.model):
            runner.model = runner.wrap_model(
                copy.deepcopy(runner.cfg.get('model_wrapper_cfg')), module)
        runner.logger.info(
            f'FreezeBetaHook: froze {len(frozen)} attention temperatures '
            f'(beta), e.g. {frozen[0]}')


def checkpoint_being_loaded(runner) -> str:
    """The file a runner loads or resumes from (mmengine's own choice)."""
    from mmengine.runner import find_latest_checkpoint
    load_from, _ = runner_checkpoint(runner)
    return str(load_from or find_latest_checkpoint(runner.work_dir))


@HOOKS.register_module()
class StrictLoadHook(Hook):
    """Stop when a checkpoint loaded into the model does not fit it.

    mmengine loads ``load_from`` and resume checkpoints with ``strict=False``:
    a checkpoint of another arch logs its mismatches and the run goes on with
    whatever matched. This hook checks the checkpoint's state dict against
    the model before the weights are copied, and raises, listing the first
    missing keys and wrong shapes. Every form mmvig documents is read as
    mmengine reads it: an mmengine checkpoint (``state_dict``), timm's
    ``train.py`` checkpoint (``state_dict``, ``state_dict_ema``), a plain or
    timm-format state dict, keys with DDP's ``module.`` prefix; a DeiT /
    GreedyViG ``main.py`` checkpoint (``model``) is handed to mmengine as its
    ``state_dict``. mmvig's ``tools/train.py`` and ``tools/test.py`` add the
    hook (``--partial-load`` leaves it out); with other tools,
    ``custom_hooks=[dict(type='StrictLoadHook')]``.
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        from ..errors import CheckpointMismatchError
        from ..models.pretrained import (check_state_dict, check_weight_kinds,
                                         without_module_prefix)
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        source = checkpoint_being_loaded(runner)
        if not isinstance(checkpoint, dict):
            raise CheckpointMismatchError(
                f'{source} holds a {type(checkpoint).__name__}, not a '
                'checkpoint dict')
        if 'state_dict' not in checkpoint and isinstance(
                checkpoint.get('model'), dict):
            checkpoint['state_dict'] = checkpoint.pop('model')
        loaded = checkpoint.get('state_dict', checkpoint)
        hint = ('A resume continues a run of this config. To start this '
                "config from another model's checkpoint, pass "
                '--cfg-options load_from=CKPT --partial-load to '
                'tools/train.py, without --resume.'
                if runner_checkpoint(runner)[1] else
                'Is it a checkpoint of this config? To load the part that '
                'matches anyway, pass --partial-load to tools/train.py.')
        loaded = without_module_prefix(loaded)
        check_state_dict(model.state_dict(), loaded, source,
                         type(model).__name__, hint)
        try:
            check_weight_kinds(loaded, model.state_dict())
        except CheckpointMismatchError as error:
            raise CheckpointMismatchError(f'{source}: {error}') from None


@HOOKS.register_module()
class DataCheckHook(Hook):
    """Check the training data set once it is built, before the first step:
    an instance without a mask under a pipeline that loads masks stops the
    run with the image named (see
    :func:`mmvig.datasets.check_instance_masks`), and the annotations mmdet
    would drop or ignore without a word are counted and named in a warning
    (:func:`mmvig.datasets.checks.warn_dropped_annotations`). In training,
    validation and test, an image file that does not decode (an empty file,
    say) stops the run with the file named
    (:func:`mmvig.datasets.name_unreadable_images`).
    """

    def before_train(self, runner) -> None:
        from mmengine.dist import is_main_process

        from ..datasets.checks import (check_instance_masks,
                                       name_unreadable_images,
                                       warn_dropped_annotations)
        check_instance_masks(runner.train_dataloader.dataset)
        name_unreadable_images(runner.train_dataloader.dataset)
        if is_main_process():
            warn_dropped_annotations(runner.train_dataloader.dataset)

    def before_val(self, runner) -> None:
        from ..datasets.checks import name_unreadable_images
        name_unreadable_images(runner.val_loop.dataloader.dataset)

    def before_test(self, runner) -> None:
        from ..datasets.checks import name_unreadable_images
        name_unreadable_images(runner.test_loop.dataloader.dataset)


@HOOKS.register_module()
class DivergenceHook(Hook):
    """Stop the run at the first training iteration whose losses are not all
    finite, or before a checkpoint whose weights are not, with
    :class:`mmvig.errors.DivergenceError` naming the iteration and the last
    checkpoint.

    It runs first after each iteration (priority ``VERY_HIGH``), before the
    EMA and checkpoint hooks, so no checkpoint holds the diverged weights. It
    is in every mmvig config's ``custom_hooks``; any OpenMMLab config can add
    ``dict(type='DivergenceHook')``.
    """

    priority = 'VERY_HIGH'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        for name, value in (outputs or {}).items():
            value = float(value.detach().float().mean()) \
                if hasattr(value, 'detach') else value
            if isinstance(value, float) and not math.isfinite(value):
                _stop(
                    runner, f'{name} is {value} at iteration '
                    f'{runner.iter + 1} (epoch {runner.epoch + 1})')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """The optimiser step after the last finite loss can still make the
        weights NaN: a checkpoint is written only if they are all finite."""
        from ..models.pretrained import non_finite_tensors
        bad = non_finite_tensors(checkpoint.get('state_dict', {}))
        if bad:
            _stop(
                runner, f'{len(bad)} weight tensor(s) are not finite after '
                f'iteration {runner.iter} (epoch {runner.epoch + 1}), '
                f'first {bad[0]}')


def _stop(runner, what: str) -> None:
    from ..errors import DivergenceError
    raise DivergenceError(
        f'{what}: the run diverged and was stopped before saving its '
        f'weights. {_last_checkpoint(runner.work_dir)} Lower the learning '
        'rate (optim_wrapper.optimizer.lr) or clip the gradients '
        '(optim_wrapper.clip_grad) and run again.')


def _last_checkpoint(work_dir: str) -> str:
    """Where to resume from, as a sentence."""
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            path = f.read().strip()
        if path and osp.isfile(path):
            return (f'The last checkpoint is {path} (--resume continues '
                    'from it).')
    return 'No checkpoint was saved before it.'


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments), with a save that a
    crash cannot lose.

    mmengine deletes the checkpoints beyond ``max_keep_ckpts`` before it
    writes the new one, straight under its final name: a run killed while
    it writes, with ``max_keep_ckpts=1``, leaves only a truncated file and
    nothing to resume. This hook writes the checkpoint under a temporary
    name (``epoch_3.pth.partial``), flushes it to disk and renames it, then
    points ``last_checkpoint`` at it (also by a rename), and only then
    deletes the checkpoints beyond ``max_keep_ckpts``. On other storage
    backends (no atomic rename) it saves as mmengine does.
    """

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not isinstance(self.file_backend, LocalBackend):
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        stale = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename + '.partial',
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        _replace_durably(self.last_ckpt + '.partial', self.last_ckpt)
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        with open(pointer + '.partial', 'w') as f:
            f.write(self.last_ckpt)
        _replace_durably(pointer + '.partial', pointer)
        for old in stale:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)


def _replace_durably(source: str, target: str) -> None:
    """Flush ``source`` to disk, then rename it to ``target`` (atomic on a
    local filesystem: ``target`` is the old file or the whole new one)."""
    with open(source, 'rb+') as f:
        os.fsync(f.fileno())
    os.replace(source, target)
