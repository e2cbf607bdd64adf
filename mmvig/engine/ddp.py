"""DDP wrapper that also runs on CPU processes (gloo backend)."""
from mmengine.model.wrappers import MMDistributedDataParallel
from torch import nn

from ..registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class AnyDeviceDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for GPU and CPU modules alike.

    mmengine always passes ``device_ids=[LOCAL_RANK]``, which torch's DDP
    rejects for a module on the CPU; this wrapper drops it there. Use it with
    ``model_wrapper_cfg=dict(type='AnyDeviceDistributedDataParallel')`` and
    ``env_cfg=dict(dist_cfg=dict(backend='gloo'))`` to train on CPUs.
    """

    def __init__(self, module: nn.Module, **kwargs) -> None:
        if all(p.device.type == 'cpu' for p in module.parameters()):
            kwargs['device_ids'] = None
        super().__init__(module=module, **kwargs)
