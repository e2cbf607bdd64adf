"""mmvig's error for wrong input."""


class InputError(ValueError):
    """An argument, file or data set the user gave is wrong; the message
    names it and what would be right. mmvig's tools print it without a
    traceback."""


class KernelError(RuntimeError):
    """A GPU kernel could not be compiled or launched (a missing C compiler
    for Triton's launcher, a ptxas or driver mismatch, ...); the message
    names the cause and the PyTorch path that computes the same."""


class DivergenceError(RuntimeError):
    """A training run's loss became NaN or infinite: the run stops before it
    saves weights that are no longer numbers; the message names the
    iteration and the last checkpoint to resume from."""
