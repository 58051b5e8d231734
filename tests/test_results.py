"""The committed full runs in results/NAME/: each was made by the experiment's current full setting, is complete,
small, and holds what a reader needs (summary, verdict, config); no weights or checkpoints."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from invert.experiments.registry import HELD, INCONCLUSIVE, NOT_REPRODUCED, get_experiment

RESULTS = Path(__file__).resolve().parents[1] / "results"
FULL_RUNS = sorted(p.parent.name for p in RESULTS.glob("*/verdict.json") if p.parent.name not in ("quick", "cache"))
MAX_BYTES = 2_000_000


def _plain(value):
    """JSON's view of a setting value: tuples as lists, dataclasses as dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value, default=str))


def published_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that the repository holds or would take in: what git tracks there plus what it would
    add, never what .gitignore keeps out (caches, copied decoder weights). Every file where git is unavailable."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "."],
            cwd=folder,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return [p for p in folder.rglob("*") if p.is_file()]
    return [folder / name for name in out.split("\0") if name and (folder / name).is_file()]


def mismatched_settings(name: str, params: dict) -> dict:
    """Setting → (recorded, current) for every full setting the run recorded with another value."""
    full = get_experiment(name).settings(False)
    current = _plain(full)
    return {k: (params[k], v) for k, v in current.items() if k in params and _plain(params[k]) != v}


def test_there_are_full_runs_to_check():
    assert "shifted-output" in FULL_RUNS and "precision" in FULL_RUNS


@pytest.mark.parametrize("name", FULL_RUNS)
def test_full_run_is_complete_small_and_made_by_the_current_full_setting(name):
    get_experiment(name)  # refuses a folder of an experiment that is no longer registered
    folder = RESULTS / name
    for f in ("summary.md", "verdict.json", "config.json"):
        assert (folder / f).is_file(), f"results/{name}/{f} missing"
    config = json.loads((folder / "config.json").read_text())
    assert config["status"] == "complete" and config["quick"] is False and config["experiment"] == name
    assert config["seconds"] > 0
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["outcome"] in (HELD, NOT_REPRODUCED, INCONCLUSIVE)
    assert f"**Verdict:** {verdict['outcome']}" in (folder / "summary.md").read_text()
    assert "full setting" in (folder / "summary.md").read_text()
    stale = mismatched_settings(name, config["params"])
    assert not stale, f"results/{name} was made by a full setting that no longer exists (recorded, now): {stale}"
    files = published_files(folder)
    assert sum(p.stat().st_size for p in files) < MAX_BYTES, f"results/{name} is over {MAX_BYTES} bytes"
    assert not [p for p in files if p.suffix in (".pt", ".pth", ".ckpt", ".lock", ".tmp")]


def test_published_files_leave_out_what_git_ignores(tmp_path):
    (tmp_path / "results" / "x" / "decoders").mkdir(parents=True)
    (tmp_path / ".gitignore").write_text("results/**/decoders/\n")
    (tmp_path / "results" / "x" / "summary.md").write_text("s")
    (tmp_path / "results" / "x" / "decoders" / "decoder.pt").write_bytes(b"w" * 10)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert published_files(tmp_path / "results" / "x") == [tmp_path / "results" / "x" / "summary.md"]


def test_a_changed_full_setting_is_caught():
    params = json.loads((RESULTS / "precision" / "config.json").read_text())["params"]
    assert mismatched_settings("precision", params) == {}
    assert mismatched_settings("precision", {**params, "size": 30}) == {"size": (30, 29)}
    assert mismatched_settings("precision", {**params, "depths": [1, 2]}) == {"depths": ([1, 2], [1, 2, 3, 4, 5])}
