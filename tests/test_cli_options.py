"""Shared options: choices from the registries, defaults read from the API, --version, --quiet everywhere,
numbers checked by the parser, --quick by one rule, and a fast `invert --help` that changes no global state."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from invert.errors import InvertError
from invert.settings import choose, overridden


def _plain(text: str) -> str:
    """Help text without rich's box drawing and wrapping, for substring checks."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.fixture
def wide(monkeypatch):
    """A wide terminal, so rich does not wrap choice lists inside the help table."""
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setenv("TERMINAL_WIDTH", "400")


def test_run_help_lists_choices_and_reads_defaults(cli, wide):
    from invert.inversion.config import OPTIMIZERS, PRESETS, InversionConfig
    from invert.objectives import OBJECTIVES

    r = cli("run", "--help")
    assert r.code == 0
    text = _plain(r.out)
    for name in [*OBJECTIVES, *OPTIMIZERS]:
        assert name in text, name
    d = InversionConfig()
    for phrase in (
        f"(default {d.lr:g})",
        f"(default {d.lr_schedule})",
        f"(default {d.objective})",
        f"(default {d.iterations})",
        f"(default {d.optimizer})",
    ):
        assert phrase in text, phrase
    for p in PRESETS:  # rich markup would swallow "[badger]" without escaping
        assert f"[{p}]" in text, p


def test_every_command_has_quiet_and_the_shared_options(cli):
    from invert.cli import _extension_commands

    commands = [
        ["run"],
        ["experiment", "run"],
        ["decoder", "train"],
        ["decoder", "eval"],
        ["compare"],
        ["train", "noise"],
        ["train", "classifier"],
        ["visualize"],
        ["attribute"],
        ["attack"],
    ]
    commands += [[name] for name in _extension_commands() if name not in {c[0] for c in commands}]  # e.g. sweep
    for cmd in commands:
        r = cli(*cmd, "--help")
        assert r.code == 0 and "--quiet" in r.out, cmd
        if cmd[0] != "sweep":
            assert "--device" in r.out, cmd


def test_version(cli):
    from invert import __version__

    r = cli("--version")
    assert r.code == 0 and r.out.strip() == f"invert {__version__}"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["attack", "--eps", "2"], "--eps"),
        (["attack", "--eps", "0"], "--eps"),
        (["attack", "--method", "cw"], "unknown attack method 'cw': choose from fgsm, pgd"),
        (["attribute", "--method", "lime"], "unknown attribution method 'lime'"),
        (["visualize", "--optimizer", "rmsprop"], "unknown optimizer 'rmsprop'"),
        (["visualize", "--lr", "nan"], "--lr"),
        (["run", "--ms-sigma", "inf"], "--ms-sigma"),
        (["run", "--blur", "-1"], "--blur"),
        (["layers", "resnet18", "--size", "0"], "--size 0 is too small"),
        (["experiment", "run", "nonuniqueness", "--device", "tpu"], "unknown device"),
        (["train", "classifier", "--val-fraction", "1.5"], "--val-fraction"),
    ],
)
def test_numbers_and_choices_are_refused_in_one_line(cli, tmp_path, args, needle):
    r = cli(*args, "--out", tmp_path / "x") if args[0] not in ("layers",) else cli(*args)
    assert r.code == 2, (r.code, r.out, r.err)
    assert needle in r.err and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert not (tmp_path / "x").exists()  # refused before anything was made


def test_attack_default_eps_is_the_apis(cli, wide):
    import inspect

    from invert.methods.adversarial import attack

    eps = inspect.signature(attack).parameters["eps"].default
    assert f"{eps * 255:g}/255" in _plain(cli("attack", "--help").out)


def test_choose_is_the_one_quick_rule():
    from invert.decoder.training import QUICK, DecoderTrainConfig

    full = DecoderTrainConfig()
    assert choose(full, QUICK, False, {"epochs": None}) == full
    small = choose(full, QUICK, True, {"lr": None})
    assert small == QUICK
    mine = choose(full, QUICK, True, {"epochs": 11, "lr": None})
    assert mine.epochs == 11 and mine.batch_size == QUICK.batch_size  # explicit wins, the rest stays quick
    assert overridden(full, QUICK, True, {"epochs": 11, "lr": None}) == {"epochs": (QUICK.epochs, 11)}
    assert choose({"epochs": 30, "limit": None}, {"epochs": 3, "limit": 2000}, True, {"epochs": 5}) == {
        "epochs": 5,
        "limit": 2000,
    }
    with pytest.raises(InvertError, match="unknown"):
        choose({"epochs": 30}, {"epochs": 3}, True, {"epoch": 5})


def test_quick_does_not_cap_explicit_epochs(cli, tmp_path, monkeypatch):
    """`invert train classifier --quick --epochs 5` trains 5 epochs on the quick image count, and says so."""
    import invert.training.cifar

    seen = {}

    def fake_train(folder, **kwargs):
        seen.update(kwargs)
        return {"test_accuracy": 0.5, "test_images": 1, "epochs": kwargs["epochs"], "weights": str(folder / "model.pt")}

    monkeypatch.setattr(invert.training.cifar, "train_cifar_classifier", fake_train)
    r = cli("train", "classifier", "--quick", "--epochs", "5", "--out", tmp_path / "clf")
    assert r.code == 0, r.err
    from invert.commands.train import CLASSIFIER_QUICK

    assert seen["epochs"] == 5 and seen["limit"] == CLASSIFIER_QUICK["limit"]
    assert "--epochs 5 kept" in r.err


def test_lazy_commands_show_the_same_help_as_when_loaded(monkeypatch):
    """`invert --help` lists commands without importing them: each line must match the real command's help."""
    import typer

    from invert.cli import _extension_commands, _LazyGroup, app, load_command

    monkeypatch.setattr(_LazyGroup, "_loaded", {})  # nothing imported yet: the listing shows placeholders
    group = typer.main.get_command(app)
    ctx = group.make_context("invert", [], resilient_parsing=True)
    found = _extension_commands()
    assert {"train", "decoder", "compare", "visualize", "attribute", "attack"} <= set(found) <= set(group.list_commands(ctx))
    listed = {name: group.get_command(ctx, name).get_short_help_str(limit=200) for name in found}
    for name in found:
        real = load_command(name)
        assert listed[name] == real.get_short_help_str(limit=200), name


def test_help_is_light_and_importing_changes_no_global_state():
    """`invert --help` loads no torchvision, scipy, kornia or matplotlib; imports leave warnings and pyplot alone."""
    code = r"""
import sys, warnings
before = list(warnings.filters)
from invert.cli import main
sys.argv = ["invert", "--help"]
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in ("torchvision", "scipy", "kornia", "matplotlib") if m in sys.modules)
print("HEAVY", heavy, file=sys.stderr)
import invert.job, invert.io, invert.analysis.plots, invert.experiments, invert.decoder.runs
print("FILTERS", [f for f in warnings.filters if f not in before and "invert" in str(f)], file=sys.stderr)
print("PYPLOT", "matplotlib.pyplot" in sys.modules, file=sys.stderr)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in p.stderr, p.stderr[-2000:]
    assert "FILTERS []" in p.stderr and "PYPLOT False" in p.stderr, p.stderr[-2000:]
