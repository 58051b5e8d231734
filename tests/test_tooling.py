"""The code is lint-clean: ``ruff check`` (configured in pyproject.toml) exits 0.

``mypy invert`` (also configured there, installed by the ``test`` extra) is a developer check, not a test: it
takes 45 s of the suite's 10-minute budget and checks types, not results.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m tool args`` in the repository root; skips when the tool is not installed (the ``test`` extra)."""
    if importlib.util.find_spec(tool) is None:
        pytest.skip(f"{tool} not installed (pip install -e '.[test]')")
    return subprocess.run([sys.executable, "-m", tool, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_check_is_clean():
    proc = _run("ruff", "check", "invert", "tests", "benchmarks")
    assert proc.returncode == 0, f"ruff check found problems:\n{proc.stdout}{proc.stderr}"
