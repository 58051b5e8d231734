"""The reproduction report ``results/README.md`` (the README links to it) is generated, and each of its rows says what
a fresh quick run of that experiment concludes.

The report is written by `invert experiment report` from ``results/quick/NAME.json`` (the quick runs' verdicts) and
``results/NAME/verdict.json`` (full runs); a test fails when the committed report differs from what the command writes
now. Each row's quick verdict must equal the committed quick verdict, and:

- cheap experiments (quick runs of 6–80 s of CPU on this 2-core machine) are run here — through the ``quick_run``
  session fixture their own tests share, so checking the report costs no extra run;
- the expensive ones (ResNet-152, CIFAR-64 training, noise training, decoders) have their quick outcome asserted by
  their own tests on a fresh run; here each row is checked against that same outcome (:data:`EXPENSIVE`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from invert.experiments import get_experiment, list_experiments
from invert.experiments.report import report_text, split_source

RESULTS = Path(__file__).resolve().parent.parent / "results"
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
    "gd-precision",
    "gd-decay",
]
NEEDS_SHARED = ["trained-nonuniqueness", "depth-trained"]  # cheap, but the trained CIFAR ResNet-20 is in ../shared
EXPENSIVE = {  # name: the quick outcome its own test asserts on a fresh run (that test's name)
    "architectures": "INCONCLUSIVE",  # test_experiment_architectures: one seed cannot judge ResNet-152 vs 50
    "depth": "INCONCLUSIVE",  # test_experiment_depth: the quick CIFAR-64 ResNet-18 is too weak for part (b)
    "kernels": "INCONCLUSIVE",  # test_experiment_kernels: same model, part (a)
    "noise-trained": "INCONCLUSIVE",  # test_experiment_noise_trained: too few noise-trained inversions converge
    "decoder-checkpoints": "NOT REPRODUCED",  # test_experiment_decoder_checkpoints: saturated conv3 at 47–51 %
    "decoder-epochs": "NOT REPRODUCED",  # test_experiment_decoder_claims: conv2 needs the most epochs
    "decoder-artificial-logits": "INCONCLUSIVE",  # test_experiment_decoder_claims: decoder not clearly learnt
    "decoder-ce-weight": "INCONCLUSIVE",  # test_experiment_decoder_claims: judged by ResNet-32/56
    "decoder-vs-optimisation": "HELD",  # test_experiment_decoder_vs_optimisation
    "noise-blur": "INCONCLUSIVE",  # test_experiment_noise_blur: 3/6 reach m_g < m_s with blur, between 25 and 75 %
    "decoder-blur-step": "INCONCLUSIVE",  # test_experiment_decoder_blur_step: conv4's decoder still improving
}
OUTCOME = re.compile(r"NOT REPRODUCED|INCONCLUSIVE|HELD|not run")


def report_rows(text: str) -> dict[str, list[str]]:
    """``{experiment name: its cells}`` from the report's table."""
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`([\w-]+)`", cells[0]) if len(cells) == 8 else None
        if name:
            out[name.group(1)] = cells
    return out


def test_split_source_and_rows_parser():
    assert split_source("Badger §4.3, fig. 9") == ("Badger §4.3", "fig. 9")
    assert split_source("Björklund 2024, §5, eq. 14") == ("Björklund 2024, §5", "eq. 14")
    assert split_source("Badger §4.2") == ("Badger §4.2", "—")
    assert split_source("report §2, figs 1, 2, S3") == ("report §2", "figs 1, 2, S3")
    table = "| `a-b` | s | f | c | HELD | not run | 3 | — |\n| x | y |\n"
    assert report_rows(table) == {"a-b": ["`a-b`", "s", "f", "c", "HELD", "not run", "3", "—"]}


def test_report_command_writes_the_table_from_verdict_files(cli, tmp_path):
    (tmp_path / "quick").mkdir()
    verdict = {"outcome": "HELD", "measured": "κ 1e3; more", "key_figure": "κ = 1.0e3 … 7.7e7", "claim": "c"}
    (tmp_path / "quick" / "conditioning.json").write_text(json.dumps(verdict))
    (tmp_path / "conditioning").mkdir()
    (tmp_path / "conditioning" / "verdict.json").write_text(json.dumps({**verdict, "outcome": "NOT REPRODUCED"}))
    (tmp_path / "conditioning" / "config.json").write_text(json.dumps({"quick": False, "seconds": 300.0}))
    (tmp_path / "depth").mkdir()
    (tmp_path / "depth" / "verdict.json").write_text(json.dumps(verdict))
    (tmp_path / "depth" / "config.json").write_text(json.dumps({"quick": False, "seconds": 3600.0}))
    (tmp_path / "precision").mkdir()  # a quick run written into results/NAME is not the full verdict
    (tmp_path / "precision" / "verdict.json").write_text(json.dumps(verdict))
    (tmp_path / "precision" / "config.json").write_text(json.dumps({"quick": True, "seconds": 3.0}))
    r = cli("experiment", "report", "--results", str(tmp_path))
    assert r.code == 0, r.err
    rows = report_rows((tmp_path / "README.md").read_text())
    assert set(rows) == {e.name for e in list_experiments()}
    assert rows["conditioning"][4:8] == [
        "HELD",
        "NOT REPRODUCED (differs from quick): κ = 1.0e3 … 7.7e7",
        "κ = 1.0e3 … 7.7e7",
        "[summary](conditioning/summary.md)",
    ]
    assert rows["precision"][4:6] == ["not run", "not run"]
    text = (tmp_path / "README.md").read_text()
    cold = get_experiment("conditioning").minutes
    assert f"| `conditioning` | `invert experiment run conditioning` | 5 min | ~{cold:g} min |" in text
    done, missing = text.split("Not run at the full")
    assert "| `conditioning` |" in done and "`precision`" not in done.split("## Full runs")[1]
    minutes = get_experiment("precision").minutes
    assert minutes and f"| `precision` | `invert experiment run precision` | ~{minutes:g} min |" in missing
    assert "| `conditioning` |" not in missing
    assert "Together the 2 full runs above took 1 h 5 min of wall time" in done  # 300 s + 3600 s


def test_show_states_the_full_runs_time(cli):
    r = cli("experiment", "show", "architectures")
    assert r.code == 0 and f"full run: ~{get_experiment('architectures').minutes:g} min on a 2-core CPU" in r.out


def test_report_collects_quick_runs(cli, tmp_path):
    run = tmp_path / "runs" / "precision"
    run.mkdir(parents=True)
    (run / "verdict.json").write_text(json.dumps({"outcome": "HELD", "measured": "m"}))
    (run / "config.json").write_text(json.dumps({"seconds": 12.5}))
    r = cli("experiment", "report", "--results", str(tmp_path / "res"), "--quick-from", str(tmp_path / "runs"))
    assert r.code == 0 and "precision" in r.out
    saved = json.loads((tmp_path / "res" / "quick" / "precision.json").read_text())
    assert saved["outcome"] == "HELD" and saved["setting"] == "quick"
    assert report_rows((tmp_path / "res" / "README.md").read_text())["precision"][4] == "HELD"


def test_committed_report_is_what_the_command_writes():
    assert (RESULTS / "README.md").read_text() == report_text(RESULTS), "run `invert experiment report`"


def test_every_experiment_has_a_row_with_its_committed_quick_verdict():
    rows = report_rows((RESULTS / "README.md").read_text())
    names = {e.name for e in list_experiments()}
    assert set(rows) == names
    assert set(CHEAP) | set(NEEDS_SHARED) | set(EXPENSIVE) == names
    assert len(CHEAP) + len(NEEDS_SHARED) + len(EXPENSIVE) == len(names)  # each in one list only
    for name, cells in rows.items():
        committed = json.loads((RESULTS / "quick" / f"{name}.json").read_text())
        assert cells[4] == committed["outcome"], name
        assert OUTCOME.fullmatch(cells[4]) and cells[1] and cells[3]


@pytest.mark.parametrize("name", sorted(EXPENSIVE))
def test_expensive_row_matches_the_outcome_its_own_test_asserts(name):
    assert report_rows((RESULTS / "README.md").read_text())[name][4] == EXPENSIVE[name]


@pytest.mark.parametrize("name", CHEAP + NEEDS_SHARED)
def test_row_matches_a_fresh_quick_run(name, quick_run, request):
    if name in NEEDS_SHARED:
        request.getfixturevalue("shared")
    row = report_rows((RESULTS / "README.md").read_text())[name]
    verdict = quick_run(name).verdict
    assert verdict.outcome == row[4], f"report: {row[4]} for {name}; a fresh quick run: {verdict.outcome}"


@pytest.mark.skipif(not (RESULTS.parent / ".git").exists(), reason="needs a git checkout")
def test_gitignore_tracks_each_experiments_results_and_nothing_users_write_there():
    import subprocess

    names = [e.name for e in list_experiments()]
    paths = [f"results/{n}/summary.md" for n in names] + ["results/quick/x.json", "results/README.md"]
    paths += ["results/runs/a/config.json", "results/my-run/metrics.json", "results/depth/cache/model.pt"]
    r = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        input="\n".join(paths),
        capture_output=True,
        text=True,
        cwd=RESULTS.parent,
    )
    ignored = set(r.stdout.split())
    assert not ignored & {p for p in paths[: len(names) + 2]}, "add the experiment to .gitignore's results/ list"
    assert ignored >= {"results/runs/a/config.json", "results/my-run/metrics.json", "results/depth/cache/model.pt"}
