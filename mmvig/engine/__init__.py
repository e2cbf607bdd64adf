from .ddp import AnyDeviceDistributedDataParallel
from .hooks import (DataCheckHook, FreezeBetaHook, StrictLoadHook,
                    checkpoint_being_loaded, temperature_parameters)

__all__ = ['AnyDeviceDistributedDataParallel', 'DataCheckHook',
           'FreezeBetaHook', 'StrictLoadHook', 'checkpoint_being_loaded',
           'temperature_parameters']
