from .ddp import AnyDeviceDistributedDataParallel
from .hooks import FreezeBetaHook, temperature_parameters

__all__ = ['AnyDeviceDistributedDataParallel', 'FreezeBetaHook',
           'temperature_parameters']
