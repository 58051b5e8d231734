"""A run that diverged, or whose start was already below m_s, says so and records it (config.json, metrics.json)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import torch

from invert.health import run_warnings


def _result(rows, images=None):
    images = torch.full((1, 3, 4, 4), 0.5) if images is None else images
    return SimpleNamespace(history=rows, images=images, iterations=5)


def test_divergence_is_warned_and_recorded(cli, tmp_path):
    out = tmp_path / "diverged"
    r = cli("run", "--model", "resnet18", "--layer", "conv2", "--size", "32", "--iterations", "3", "--lr", "1e9",
            "--quiet", "--out", out)  # fmt: skip
    assert r.code == 0 and "warning: m_g rose" in r.err and "saturated" in r.err, r.err
    for name in ("config.json", "metrics.json"):
        said = json.loads((out / name).read_text())["warnings"]
        assert any("diverged" in w for w in said), said


def test_a_start_below_m_s_is_warned():
    rows = [
        {"iteration": 0, "target": 0, "restart": 0, "m_g": 1.0, "m_s": 2.0},
        {"iteration": 5, "target": 0, "restart": 0, "m_g": 0.5, "m_s": 2.0},
    ]
    said = run_warnings(_result(rows))
    assert len(said) == 1 and "already below m_s" in said[0] and "degenerate" in said[0]


def test_a_healthy_run_says_nothing():
    rows = [
        {"iteration": 0, "target": 0, "restart": 0, "m_g": 9.0, "m_s": 2.0},
        {"iteration": 5, "target": 0, "restart": 0, "m_g": 1.5, "m_s": 2.0},
    ]
    assert run_warnings(_result(rows)) == []
    assert "saturated" in run_warnings(_result(rows, torch.ones(1, 3, 4, 4)))[0]


def test_a_preset_says_what_it_changes_beyond_the_procedure_and_given_options_win(cli, tmp_path):
    out = tmp_path / "badger"
    r = cli("run", "--model", "resnet18", "--layer", "conv2", "--size", "32", "--iterations", "2", "--preset", "badger",
            "--seed", "3", "--out", out)  # fmt: skip
    assert r.code == 0, r.err
    notes = [line for line in r.err.splitlines() if line.startswith("note: preset badger")]
    assert len(notes) == 1 and "resize=stretch" in notes[0] and "seed=" not in notes[0] and " size=" not in notes[0]
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 3 and config["inversion"]["size"] == 32 and config["inversion"]["resize"] == "stretch"
