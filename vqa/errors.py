"""The base of every error the toolkit reports to users as a message rather than a traceback."""


class VQAError(Exception):
    """An error caused by user input (a file, a config value, a name); its message says what to fix."""
