"""Every config.json names the code that made it: the git commit of the checkout (``+dirty`` with local edits) and
the machine's CPU count, so a published result can be traced to its source."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from invert.io import manifest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_environment_names_the_commit_and_the_cpus() -> None:
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    env = manifest.environment_info("cpu")
    assert env["commit"].split("+")[0] == head and len(head) == 40
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    assert env["commit"].endswith("+dirty") == bool(dirty)
    assert isinstance(env["cpus"], int) and env["cpus"] >= 1


def test_no_commit_outside_a_checkout(monkeypatch, tmp_path) -> None:
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    manifest.source_commit.cache_clear()
    monkeypatch.setattr(manifest.subprocess, "run", no_git)
    try:
        assert manifest.source_commit() is None
    finally:
        manifest.source_commit.cache_clear()
