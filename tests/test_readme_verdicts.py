"""The README's experiments table says what a fresh quick run of each cheap experiment concludes.

A row's quick outcome is the first HELD / NOT REPRODUCED / INCONCLUSIVE in its last cell (parts and full-run
results may follow it). The runs are the ``quick_run`` session fixture's, shared with each experiment's own test, so
checking the README costs no extra run.

Cheap: quick runs measured at 6–26 s of CPU (user + sys, one thread; lr-by-depth the longest) on this 2-core machine.
Excluded, each with its own test asserting its quick outcome (and key figures):

- ``architectures`` — three ImageNet ResNets up to ResNet-152 at conv5 (419 s of CPU); on a bare clone it inverts
  the embedded photo, not the README's Dalmatian, and ends INCONCLUSIVE, not NOT REPRODUCED
  (test_experiment_architectures asserts both);
- ``depth``, ``kernels`` — train a CIFAR-10 ResNet-18 at 64 px (minutes; need ../shared): test_experiment_depth and
  test_experiment_kernels assert INCONCLUSIVE;
- ``noise-trained`` — trains a noise-memorising model and runs 48 inversions (475 s of CPU; needs ../shared):
  test_experiment_noise_trained asserts NOT REPRODUCED;
- the five ``decoder-*`` experiments — train decoders on CIFAR-10 (minutes; need ../shared):
  test_experiment_decoder_checkpoints, test_experiment_decoder_claims and test_experiment_decoder_vs_optimisation assert
  their outcomes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from invert.experiments import list_experiments

README = Path(__file__).resolve().parent.parent / "README.md"
CHEAP = [
    "shifted-output",
    "precision",
    "conditioning",
    "mlp-depth",
    "relu-vs-linear",
    "mlp-width",
    "nonuniqueness",
    "relu-width",
    "lr-by-depth",
]
NEEDS_SHARED = ["trained-nonuniqueness"]  # cheap (9 s of CPU), but the trained CIFAR ResNet-20 is in ../shared
EXCLUDED = {
    "architectures": "ResNet-152; the bare-clone image differs from the README's",
    "depth": "trains a CIFAR-10 ResNet-18",
    "kernels": "trains a CIFAR-10 ResNet-18",
    "noise-trained": "trains a noise-memorising model, 48 inversions",
    "decoder-checkpoints": "trains decoders",
    "decoder-epochs": "trains decoders",
    "decoder-artificial-logits": "trains decoders",
    "decoder-ce-weight": "trains decoders",
    "decoder-vs-optimisation": "trains decoders",
}
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
    table = (
        "## Experiments\n\n| name | reproduces | result |\n|---|---|---|\n"
        "| `a-b` | x | m_i 3 — HELD (magnitude NOT REPRODUCED) |\n"
        "| `c` | y | quick: NOT REPRODUCED; full: HELD |\n"
        "| `d` | z | INCONCLUSIVE: too few runs |\n\n## Next\n| `e` | q | HELD |\n"
    )
    assert readme_outcomes(table) == {"a-b": "HELD", "c": "NOT REPRODUCED", "d": "INCONCLUSIVE"}


def test_every_experiment_has_a_readme_row_and_is_checked_here_or_excluded_with_a_reason():
    """A new experiment must get a README row and be sorted into CHEAP or EXCLUDED (with its own outcome test)."""
    names = {e.name for e in list_experiments()}
    assert set(readme_outcomes(README.read_text())) == names
    assert set(CHEAP) | set(NEEDS_SHARED) | set(EXCLUDED) == names
    assert len(CHEAP) + len(NEEDS_SHARED) + len(EXCLUDED) == len(names)  # each in one list only


@pytest.mark.parametrize("name", CHEAP + NEEDS_SHARED)
def test_readme_row_matches_a_fresh_quick_run(name, quick_run, request):
    if name in NEEDS_SHARED:
        request.getfixturevalue("shared")
    rows = readme_outcomes(README.read_text())
    assert name in rows, f"the README's experiments table has no row for {name}"
    verdict = quick_run(name).verdict
    assert verdict.outcome == rows[name], f"README: {rows[name]} for {name}; a fresh quick run: {verdict.outcome}"
