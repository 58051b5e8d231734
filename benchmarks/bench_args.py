"""Command-line helpers the benchmark scripts share (each runs as ``python benchmarks/bench_NAME.py``)."""

from __future__ import annotations

import argparse
from typing import Iterable, Sequence

#: ``--smoke``: what every benchmark offers so that the suite can run it (tests/test_benchmarks_smoke.py).
SMOKE_HELP = "one iteration at the smallest size: only checks that the benchmark still runs (the suite runs this)"


def add_smoke(parser: argparse.ArgumentParser) -> None:
    """Add ``--smoke`` (:data:`SMOKE_HELP`) to a benchmark's parser."""
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)


def names(text: str) -> list[str]:
    """A comma-separated option as a list of names, blanks dropped: ``"conv2, conv4,"`` → ``["conv2", "conv4"]``."""
    return [s.strip() for s in text.split(",") if s.strip()]


def check_names(parser: argparse.ArgumentParser, checks: Iterable[tuple[str, list[str], Sequence[str]]]) -> None:
    """Refuse, by ``parser.error`` (one line, exit status 2), a list that is empty or names something not allowed.

    ``checks`` holds (what the names are, the names given, the names allowed).
    """
    for what, got, allowed in checks:
        bad = [s for s in got if s not in allowed]
        if bad or not got:
            parser.error(f"unknown {what}(s) {', '.join(bad) or '(none given)'}: choose from {', '.join(allowed)}")
