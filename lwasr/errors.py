"""The one exception type that reaches the user as a clean message instead of a traceback."""


class LwasrError(Exception):
    """A user-facing error: bad input, a missing model, an unknown language.

    The CLI prints its message (prefixed with ``error:``) and exits with status 2.
    """
