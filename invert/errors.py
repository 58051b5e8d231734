"""One exception type for every user-facing problem, so the CLI can print it as one line.

The exit status says what kind of problem it was: 2 bad input or usage (:class:`InvertError`),
1 a run that started and failed (:class:`RunFailed`), 130 a run stopped by Ctrl-C or SIGTERM
after writing what it had (:class:`Interrupted`).
"""


class InvertError(Exception):
    """A problem with the user's input or environment, stated with how to fix it.

    The CLI prints ``str(err)`` on one line and exits with :attr:`exit_code` without a traceback.
    """

    exit_code: int = 2


class RunFailed(InvertError):
    """A run that started and could not finish (diverged, weights missing at run time); partial results are kept."""

    exit_code = 1


class Interrupted(InvertError):
    """Ctrl-C or SIGTERM: what the run had is written (``status: interrupted``)."""

    exit_code = 130
