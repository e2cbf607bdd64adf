"""mmvig's errors, and the one place that decides which describe the user's
input (a wrong argument, file or data set, a name clash, a run that diverged)
and what a tool prints for them."""
import pickle


class InputError(ValueError):
    """An argument, file or data set the user gave is wrong; the message
    names it and what would be right. mmvig's tools print it without a
    traceback."""


class CheckpointFileError(InputError):
    """A file is not a readable checkpoint (truncated, text, empty...)."""


class CheckpointMismatchError(InputError):
    """A checkpoint does not hold the weights of the module it is loaded
    into."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds objects outside the safe allowlist."""


class KernelError(RuntimeError):
    """A GPU kernel could not be compiled or launched (a missing C compiler
    for Triton's launcher, a ptxas or driver mismatch, ...); the message
    names the cause and the PyTorch path that computes the same."""


class DivergenceError(RuntimeError):
    """A training run's loss became NaN or infinite: the run stops before it
    saves weights that are no longer numbers; the message names the
    iteration and the last checkpoint to resume from."""


class RegistrationClash(KeyError):
    """Another package registered one of mmvig's names first."""


class MMVigWarning(UserWarning):
    """Every warning mmvig gives (its tests turn them into errors unless a
    test expects one)."""


class KernelFallbackWarning(MMVigWarning, RuntimeWarning):
    """The Triton SVGA kernels failed; the process runs the PyTorch path."""


# The errors whose message is meant for the user: a tool prints it as one
# line (:func:`mmvig.apis.report_input_errors`), not a traceback.
INPUT_ERRORS = (InputError, FileNotFoundError, RegistrationClash,
                DivergenceError)


def error_message(error: BaseException) -> str:
    """An input error's own words: a data loader worker's error comes back
    wrapped in the worker's traceback, whose last line holds them."""
    text = str(error)
    if 'Original Traceback' in text:
        last = text.rstrip().splitlines()[-1]
        text = last.split(': ', 1)[1] if ': ' in last else last
    return text
