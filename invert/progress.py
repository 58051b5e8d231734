"""One progress bar for every long loop (inversion, classifier and decoder training): a no-op when disabled."""

from __future__ import annotations

from typing import Any


class ProgressBar:
    """A rich bar — description, bar, n/N, elapsed, remaining — that does nothing when ``enabled`` is false.

    Use as a context manager, or call :meth:`close`; ``advance(description=...)`` updates the text.
    """

    def __init__(self, description: str, total: int, *, enabled: bool = True, completed: int = 0):
        self._prog: Any = None
        if not enabled or total <= 0:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._prog = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self._task = self._prog.add_task(description, total=total, completed=completed)
        self._prog.start()

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        if self._prog is not None:
            self._prog.update(self._task, advance=steps, description=description)

    def describe(self, description: str) -> None:
        if self._prog is not None:
            self._prog.update(self._task, description=description)

    def close(self) -> None:
        if self._prog is not None:
            self._prog.stop()
            self._prog = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
