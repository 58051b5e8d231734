"""The README's experiments table says what a fresh quick run of each cheap experiment concludes.

A row's quick outcome is the first HELD / NOT REPRODUCED / INCONCLUSIVE in its last cell (parts and full-run
results may follow it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from invert.experiments import run_experiment

README = Path(__file__).resolve().parent.parent / "README.md"
CHEAP = ["shifted-output", "precision", "mlp-width"]  # each quick run takes seconds
OUTCOME = re.compile(r"NOT REPRODUCED|INCONCLUSIVE|HELD")


def readme_outcomes(text: str) -> dict[str, str]:
    """``{experiment name: quick outcome}`` from the rows of the README table under "## Experiments"."""
    section = text.split("## Experiments", 1)[1].split("\n## ", 1)[0]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`([\w-]+)`", cells[0]) if len(cells) >= 3 else None
        if name:
            found = OUTCOME.search(cells[-1])
            if found:
                out[name.group(1)] = found.group(0)
    return out


def test_readme_outcomes_parser():
    table = ("## Experiments\n\n| name | reproduces | result |\n|---|---|---|\n"
             "| `a-b` | x | m_i 3 — HELD (magnitude NOT REPRODUCED) |\n"
             "| `c` | y | quick: NOT REPRODUCED; full: HELD |\n"
             "| `d` | z | INCONCLUSIVE: too few runs |\n\n## Next\n| `e` | q | HELD |\n")
    assert readme_outcomes(table) == {"a-b": "HELD", "c": "NOT REPRODUCED", "d": "INCONCLUSIVE"}


@pytest.mark.parametrize("name", CHEAP)
def test_readme_row_matches_a_fresh_quick_run(name, tmp_path):
    rows = readme_outcomes(README.read_text())
    assert name in rows, f"the README's experiments table has no row for {name}"
    verdict, _ = run_experiment(name, quick=True, out=tmp_path / name, seed=0)
    assert verdict.outcome == rows[name], f"README: {rows[name]} for {name}; a fresh quick run: {verdict.outcome}"
