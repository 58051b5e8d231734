"""The documentation builds, and the words users read carry no project history.

- The Sphinx site builds offline from a copy of ``docs/`` with warnings as errors (``-W``; ``nitpicky``, so a
  broken internal reference fails too). Every gallery example executes afresh (nothing cached) and renders its
  figure; the CLI reference lists every command of the real app.
- No docstring, comment or ``--help`` text in ``invert/``, and no line of the README, refers to search rounds,
  issue numbers or work sessions: that history belongs in CHANGELOG.md and benchmarks/search-log.md.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HISTORY = re.compile(r"\b(rounds?|issues?)\s+\d+|\bsessions?\b|\bbefore issue\b", re.I)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("myst_parser")
    pytest.importorskip("furo")
    src = tmp_path_factory.mktemp("docs") / "docs"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("_build", "auto_examples", "_generated", "__pycache__"))
    out = src / "_build" / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html", str(src), str(out)],
        capture_output=True,
        text=True,
        cwd=src,
        timeout=900,
    )
    assert proc.returncode == 0, f"the docs build failed or warned:\n{proc.stderr[-6000:]}"
    return out


def test_docs_build_without_warnings(built):
    for page in ("index", "concepts", "api", "cli", "reproduction", "about", "auto_examples/index"):
        assert (built / f"{page}.html").exists(), page


def test_gallery_examples_ran_and_drew_their_figures(built):
    examples = sorted(p.stem for p in (DOCS / "examples").glob("plot_*.py"))
    assert 6 <= len(examples) <= 10
    images = built / "_images"
    for name in examples:
        assert list(images.glob(f"sphx_glr_{name}_0*.png")), f"{name} drew no figure"
        assert "Total running time" in (built / "auto_examples" / f"{name}.html").read_text(encoding="utf-8")


def test_cli_reference_lists_every_command(built):
    from invert.cli import COMMANDS, app

    html = (built / "cli.html").read_text(encoding="utf-8")
    names = set(COMMANDS) | {c.name or c.callback.__name__ for c in app.registered_commands}
    for name in names:
        assert f'id="cli-{name}"' in html, f"`invert {name}` is missing from the CLI reference"
    assert "--stop-below-ms" in html  # options come from the real parser, defaults and choices included


def test_api_reference_documents_the_public_api(built):
    html = (built / "api.html").read_text(encoding="utf-8")
    for name in (
        "invert.encoders.build_encoder",
        "invert.inversion.invert",
        "invert.inversion.InversionConfig",
        "invert.decoder.build_decoder",
        "invert.methods.grad_cam",
        "invert.sweep.map_tasks",
        "invert.analysis.condition_number",
        "invert.objectives.make_objective",
        "invert.priors.tv_prior",
        "invert.profiling.profile",
    ):
        assert f'id="{name}"' in html, f"{name} is missing from the API reference"


def _history_lines(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if HISTORY.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    return found


def test_the_history_pattern_can_fail():
    for text in ("round 17's default", "(issue 10)", "re-measured this session", "the default before issue 10"):
        assert HISTORY.search(text), text
    for text in ("around 20 %", "decades around 1/s", "seconds_this_session", "issues a warning"):
        assert not HISTORY.search(text), text


def test_no_history_in_the_code_or_the_readme():
    paths = sorted((ROOT / "invert").rglob("*.py")) + [ROOT / "README.md"]
    found = _history_lines(paths)
    assert not found, "history belongs in CHANGELOG.md, not here:\n" + "\n".join(found)
