"""Ctrl-C and SIGTERM stop a command with one line, ``interrupted``, and exit status 130.

The handlers live here, below both the console script's first module (:mod:`invert.start`) and the command line
(:mod:`invert.cli`), so each can install them without importing the other. Nothing but :mod:`signal` is imported:
the console script installs them before anything slow is loaded.
"""

from __future__ import annotations

import signal

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing

if TYPE_CHECKING:  # typing's names cost an import in the instant these handlers guard
    from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def terminate(signum: int, frame: Any) -> None:
    """Ctrl-C and SIGTERM (what `timeout`, Ray and batch schedulers send) stop a run alike: partial results,
    status interrupted.

    A signal that lands while a module is being imported (torch takes seconds) is sent again 50 ms later
    instead: an import cut in half leaves the module broken for the code that then writes the partial results.
    """
    if importing(frame):
        import os
        import threading

        threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
        return
    raise KeyboardInterrupt


def importing(frame: Any) -> bool:
    """True when ``frame`` runs inside an import (a module's top-level code under importlib)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def handle_signals() -> dict[int, Any]:
    """Install :func:`terminate` for Ctrl-C and SIGTERM; the handlers they replace (none off the main thread)."""
    try:
        return {s: signal.signal(s, terminate) for s in STOP_SIGNALS}
    except ValueError:  # not the main thread (main() called from a worker): leave signals alone
        return {}


def ignore_signals() -> dict[int, Any]:
    """Ignore Ctrl-C and SIGTERM for a moment (cleaning up); the handlers they replace, for :func:`restore_signals`."""
    try:
        return {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
    except ValueError:  # not the main thread
        return {}


def restore_signals(handlers: dict[int, Any]) -> None:
    for s, handler in handlers.items():
        signal.signal(s, handler)
