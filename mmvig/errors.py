"""mmvig's error for wrong input."""


class InputError(ValueError):
    """An argument, file or data set the user gave is wrong; the message
    names it and what would be right. mmvig's tools print it without a
    traceback."""
