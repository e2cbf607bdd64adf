"""mmvig's runner: mmengine's ``Runner`` that reads every checkpoint the
way mmvig does.

Every mmvig config sets ``runner_type = 'MMVigRunner'``, so mmvig's tools and
the task libraries' own ``tools/train.py`` / ``tools/test.py`` (which build
``RUNNERS.build(cfg)`` when a config names a runner) run it. Within its
``train``, ``val``, ``test`` and ``load_checkpoint``, every scheme of
mmengine's ``CheckpointLoader`` reads through
:func:`mmvig.safe_load.read_checkpoint` (:func:`~mmvig.safe_load.
checked_checkpoint_loaders`): ``load_from``, ``--resume`` and every
``Pretrained`` init, local or URL, get the same checks and one-line errors.
A resume's checkpoint is checked by :func:`mmvig.safe_load.
check_resume_meta` before mmengine's ``resume`` reads its ``meta`` (which
would otherwise execute ``meta['config']`` as Python).
"""
from typing import Any

from mmengine.runner import Runner
from torch import nn

from ..registry import RUNNERS
from ..safe_load import checked_checkpoint_loaders, resuming


@RUNNERS.register_module()
class MMVigRunner(Runner):
    """mmengine's ``Runner`` (same arguments) whose checkpoint loading is
    mmvig's (see the module docstring)."""

    def train(self) -> nn.Module:
        with checked_checkpoint_loaders():
            return super().train()

    def val(self) -> dict:
        with checked_checkpoint_loaders():
            return super().val()

    def test(self) -> dict:
        with checked_checkpoint_loaders():
            return super().test()

    def load_checkpoint(self, filename: str, *args: Any, **kwargs: Any):
        with checked_checkpoint_loaders():
            return super().load_checkpoint(filename, *args, **kwargs)

    def resume(self, filename: str, *args: Any, **kwargs: Any) -> None:
        with checked_checkpoint_loaders(), resuming():
            super().resume(filename, *args, **kwargs)
