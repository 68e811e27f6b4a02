"""The base of every error the toolkit reports to users as a message rather than a traceback."""

from fusion.registry import UnknownNameError


class VQAError(Exception):
    """An error caused by user input (a file, a config value, a name); its message says what to fix."""


# What the command line reports as a one-line message: the toolkit's errors and an unknown part name.
USER_ERRORS: tuple[type[Exception], ...] = (VQAError, UnknownNameError)
