from .ddp import AnyDeviceDistributedDataParallel
from .hooks import (AtomicCheckpointHook, DataCheckHook, DivergenceHook,
                    FreezeBetaHook, StrictLoadHook, checkpoint_being_loaded,
                    temperature_parameters)
from .runner import MMVigRunner

__all__ = [
    'AnyDeviceDistributedDataParallel', 'AtomicCheckpointHook',
    'DataCheckHook', 'DivergenceHook', 'FreezeBetaHook', 'MMVigRunner',
    'StrictLoadHook', 'checkpoint_being_loaded', 'temperature_parameters'
]
