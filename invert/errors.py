"""One exception type for every user-facing problem, so the CLI can print it as one line."""


class InvertError(Exception):
    """A problem with the user's input or environment, stated with how to fix it.

    The CLI prints ``str(err)`` on one line and exits non-zero without a traceback.
    """
