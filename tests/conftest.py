"""Test session setup."""
import os

import torch

# Without a GPU the Triton kernels run in Triton's interpreter, so the GPU
# path is tested here too. Set before any kernel is compiled (decorated).
if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')
