from .ddp import AnyDeviceDistributedDataParallel
from .hooks import (AtomicCheckpointHook, DataCheckHook, DivergenceHook,
                    FreezeBetaHook, StrictLoadHook, checkpoint_being_loaded,
                    temperature_parameters)

__all__ = [
    'AnyDeviceDistributedDataParallel', 'AtomicCheckpointHook',
    'DataCheckHook', 'DivergenceHook', 'FreezeBetaHook', 'StrictLoadHook',
    'checkpoint_being_loaded', 'temperature_parameters'
]
