from .ddp import AnyDeviceDistributedDataParallel
from .hooks import (DataCheckHook, DivergenceHook, FreezeBetaHook,
                    StrictLoadHook, checkpoint_being_loaded,
                    temperature_parameters)

__all__ = ['AnyDeviceDistributedDataParallel', 'DataCheckHook',
           'DivergenceHook', 'FreezeBetaHook', 'StrictLoadHook',
           'checkpoint_being_loaded', 'temperature_parameters']
