"""`--threads` on every command: the thread count is set, checked and recorded in config.json."""

from __future__ import annotations

import json

import torch
import typer

from invert.cli import COMMANDS, app, load_command
from invert.commands.options import with_threads


def _leaves(command):
    subs = getattr(command, "commands", None)
    if isinstance(subs, dict):
        for sub in subs.values():
            yield from _leaves(sub)
    else:
        yield command


def test_every_command_takes_threads():
    commands = [with_threads(typer.main.get_command(app))] + [load_command(n) for n in COMMANDS]
    leaves = [c for group in commands for c in _leaves(group)]
    assert len(leaves) >= 15
    missing = [c.name for c in leaves if not any(p.name == "threads" for p in c.params)]
    assert not missing, missing


def test_threads_are_used_and_recorded(cli, tmp_path, monkeypatch):
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # restored after the test, whatever --threads set
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    try:
        out = tmp_path / "one"
        r = cli("run", "--model", "mlp-8", "--layer", "output", "--iterations", "2", "--threads", "1", "--quiet",
                "--out", out)  # fmt: skip
        assert r.code == 0, r.err
        assert json.loads((out / "config.json").read_text())["environment"]["torch_threads"] == 1
        r = cli("layers", "mlp-8", "--threads", "0")
        assert r.code == 2 and "--threads" in r.err and len(r.err.strip().splitlines()) == 1
    finally:
        torch.set_num_threads(before)
