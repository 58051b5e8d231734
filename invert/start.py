"""The ``invert`` console script: Ctrl-C and SIGTERM are handled from the first instant, then the CLI runs.

Importing the command line (typer, rich) takes a moment, and longer on a busy machine; a signal in that moment
would otherwise print a traceback (Ctrl-C) or end the process without a word (SIGTERM). Both stop the process
with one line, ``interrupted``, and exit status 130, at any moment.
"""

from __future__ import annotations

import sys

from invert.signals import (  # noqa: F401 - re-exported: the handlers' earlier home
    STOP_SIGNALS,
    handle_signals,
    ignore_signals,
    importing,
    restore_signals,
    terminate,
)


def main() -> None:
    """Entry point of the ``invert`` script."""
    handle_signals()
    try:
        from invert.cli import main as cli_main
    except KeyboardInterrupt:  # pragma: no cover - a signal is re-sent until the import is over
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    cli_main()
