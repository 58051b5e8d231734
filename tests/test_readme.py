"""Every ```python block of README.md runs on its own: its own imports, a fresh namespace, no files but ../shared."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[tuple[int, str]]:
    """(line number, code) of each fenced python block."""
    text = README.read_text(encoding="utf-8")
    found = re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)
    return [(text[: m.start()].count("\n") + 1, m.group(1)) for m in found]


def test_readme_has_python_blocks():
    assert len(python_blocks()) >= 2


@pytest.mark.parametrize("line,code", python_blocks(), ids=[f"README.md:{n}" for n, _ in python_blocks()])
def test_readme_python_block_runs_on_its_own(line, code, tmp_path, monkeypatch, request):
    if re.search(r"""weights=["']trained["']""", code):  # the trained CIFAR ResNets need the offline material
        request.getfixturevalue("shared")
    if "timm:" in code:
        pytest.importorskip("timm")
    monkeypatch.chdir(tmp_path)  # whatever a block writes lands here
    exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})
