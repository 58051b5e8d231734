"""The README runs as written.

- Every ```python block runs on its own: its own imports, a fresh namespace, no files but ../shared.
- The two set-up commands are exactly what they have always been; the test one is what `.ci/run` runs.
- Every other shell line runs from the repository root after the set-up command: it calls `.venv/bin/…`
  (never a bare `invert`, which needs an activated venv), every `invert` line parses against the real CLI
  (commands, choices, numbers — what the parser checks before a command runs), and the files it names exist
  (../shared ones where ../shared is present). The cheap lines run for real, the sweep spec too.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 200
SETUP = "python3 -m venv .venv && .venv/bin/pip install -q torch==2.14.1 torchvision==0.29.1"
MAIN_JOB = f"{SETUP} -e . && .venv/bin/invert run --model resnet50 --layer conv4"
#: Lines cheap enough to run for real in the test (listing commands: no inversion).
RUN_FOR_REAL = ("invert presets", "invert experiment list", "invert layers ")


def blocks(language: str) -> list[tuple[int, str]]:
    """(line number, code) of each fenced block of ``language``."""
    text = README.read_text(encoding="utf-8")
    found = re.finditer(rf"^```{language}\n(.*?)^```", text, re.S | re.M)
    return [(text[: m.start()].count("\n") + 1, m.group(1)) for m in found]


def python_blocks() -> list[tuple[int, str]]:
    return blocks("python")


def shell_lines() -> list[tuple[int, str]]:
    """(line number, command) of every line of every bash block, comments dropped."""
    out = []
    for start, code in blocks("bash"):
        for i, line in enumerate(code.splitlines()):
            command = re.sub(r"\s+#\s.*$", "", line).strip()  # a trailing `  # comment` is not part of it
            if command and not command.startswith("#"):
                out.append((start + 1 + i, command))
    return out


def ci_command() -> str:
    """The command `.ci/run` runs (its last line)."""
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("python3 -m venv")]
    assert len(lines) == 1, "`.ci/run` should run one set-up + test command"
    return lines[0]


def invert_lines() -> list[tuple[int, list[str]]]:
    """The `invert` invocations (line number, argv after `invert`) of every `&&`-joined shell line."""
    out = []
    for n, line in shell_lines():
        for part in line.split(" && "):
            words = shlex.split(part)
            if words and words[0] == ".venv/bin/invert":
                out.append((n, words[1:]))
    return out


def test_readme_is_short():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def test_readme_has_python_blocks():
    assert len(python_blocks()) >= 1


@pytest.mark.parametrize("line,code", python_blocks(), ids=[f"README.md:{n}" for n, _ in python_blocks()])
def test_readme_python_block_runs_on_its_own(line, code, tmp_path, monkeypatch, request):
    if re.search(r"""weights=["']trained["']""", code):  # the trained CIFAR ResNets need the offline material
        request.getfixturevalue("shared")
    if "timm:" in code:
        pytest.importorskip("timm")
    monkeypatch.chdir(tmp_path)  # whatever a block writes lands here
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the blocks are small: a second thread on a shared machine only spins
    try:
        exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})
    finally:
        torch.set_num_threads(threads)


def test_the_two_commands_are_unchanged_and_ci_runs_the_test_one():
    lines = [cmd for _, cmd in shell_lines()]
    assert lines[0] == MAIN_JOB
    assert lines[1] == ci_command() == f"{SETUP} -e '.[test]' && .venv/bin/pytest"


def test_every_shell_line_runs_after_the_set_up_command():
    """No bare `invert`/`pip`/`python`: each step calls the venv's own executable, from the repository root."""
    allowed = (".venv/bin/", "python3 -m venv", "torchrun ")
    for n, line in shell_lines():
        for part in line.split(" && "):
            assert part.startswith(allowed), f"README.md:{n}: `{part}` needs `.venv/bin/` (or an activated venv)"


def _parse(argv: list[str]) -> list[tuple[object, object]]:
    """Parse ``argv`` down the real command tree without running anything; (command, context) per level."""
    import typer.main

    from invert.cli import app

    cmd = typer.main.get_command(app)
    ctx = cmd.make_context("invert", list(argv))
    levels = [(cmd, ctx)]
    while hasattr(cmd, "resolve_command"):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, cmd, rest = cmd.resolve_command(ctx, rest)
        ctx = cmd.make_context(name, rest, parent=ctx)
        levels.append((cmd, ctx))
    return levels


def _named_files(argv: list[str]) -> list[str]:
    """Arguments that name an input file: image and spec paths (outputs and folders are made by the command)."""
    files = [
        v
        for k, v in zip(argv, argv[1:], strict=False)
        if k in ("--image", "--dream", "--weights") and "." in Path(v).name
    ]
    return files + [a for a in argv if a.endswith(".toml")]


@pytest.mark.parametrize("line,argv", invert_lines(), ids=[f"README.md:{n}" for n, _ in invert_lines()])
def test_every_invert_line_parses_and_its_files_exist(line, argv, request):
    levels = _parse(argv)  # raises the parser's own error on an unknown command, option, choice or number
    assert len(levels) >= 2, f"README.md:{line}: `invert {shlex.join(argv)}` names no command"
    for f in _named_files(argv):
        if f.startswith("../shared/"):
            shared = request.getfixturevalue("shared")  # skips where ../shared is absent
            assert (Path(shared) / f.removeprefix("../shared/")).exists(), f"README.md:{line}: {f} is not in ../shared"
        else:
            assert (ROOT / f).exists(), f"README.md:{line}: {f} does not exist in the repository"


def test_the_parser_check_can_fail():
    import click as plain_click

    try:
        import typer._click as vendored
    except ImportError:  # pragma: no cover
        vendored = plain_click
    for bad in (["run", "--model", "resnet18", "--optimizer", "adamm"], ["runn"], ["run", "--lr-end", "x"]):
        with pytest.raises((plain_click.ClickException, vendored.ClickException)):
            _parse(bad)


@pytest.mark.parametrize(
    "argv",
    [a for _, a in invert_lines() if shlex.join(["invert", *a]).startswith(RUN_FOR_REAL)],
    ids=lambda a: " ".join(a[:2]),
)
def test_cheap_lines_run_for_real(argv, capsys):
    from invert.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    assert exit_.value.code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip()


def test_the_example_sweep_spec_runs(tmp_path, monkeypatch):
    """The spec the README's sweep recipe names: every cell finishes and the table has a row for each."""
    import csv

    from invert.sweep import executors
    from invert.sweep.runner import run_sweep

    monkeypatch.setattr(executors, "available_cores", lambda: 1)  # one torch thread: tiny cells, a shared machine

    spec = ROOT / "examples" / "sweep.toml"
    assert any(spec.relative_to(ROOT).as_posix() in argv for _, argv in invert_lines())
    run_sweep(spec, tmp_path / "sweep", workers=1, progress=False)
    rows = list(csv.DictReader((tmp_path / "sweep" / "table.csv").open()))
    assert len(rows) == 4 and all(r["status"] == "complete" for r in rows), rows
    assert all(float(r["m_g"]) < float(r["m_s"]) for r in rows), rows
