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
        "(default: by image size, blur σ/5",  # lr: the default chooses it (InversionConfig.resolved)
        f"(default {d.lr_schedule})",
        f"(default {d.objective})",
        f"(default {d.iterations})",
        f"(default {d.optimizer})",
    ):
        assert phrase in text, phrase
    for p in PRESETS:  # rich markup would swallow "[badger]" without escaping
        assert f"[{p}]" in text, p


def _every_command() -> list[tuple[list[str], object]]:
    """Every leaf command of `invert`, by its path: the top-level ones, subgroups' and the lazily imported ones."""
    import typer

    from invert.cli import COMMANDS, app, load_command

    found: list[tuple[list[str], object]] = []

    def walk(command: object, path: list[str]) -> None:
        if hasattr(command, "list_commands"):
            ctx = command.make_context(path[-1] if path else "invert", [], resilient_parsing=True)  # type: ignore[attr-defined]
            for name in command.list_commands(ctx):  # type: ignore[attr-defined]
                sub = load_command(name) if not path and name in COMMANDS else command.get_command(ctx, name)  # type: ignore[attr-defined]
                walk(sub, [*path, name])
        else:
            found.append((path, command))

    walk(typer.main.get_command(app), [])
    return found


def test_every_command_has_quiet_and_the_shared_options(cli):
    commands = _every_command()
    paths = {" ".join(p) for p, _ in commands}
    assert {"run", "layers", "models", "presets", "experiment list", "experiment run", "train noise", "sweep"} <= paths
    for path, command in commands:
        opts = {o for p in command.params for o in getattr(p, "opts", [])}  # type: ignore[attr-defined]
        assert "--quiet" in opts, path
        r = cli(*path, "--help")
        assert r.code == 0 and "--quiet" in r.out, path
        if path[0] not in {"layers", "models", "presets", "sweep"} and path not in (
            ["experiment", "list"],
            ["experiment", "show"],
            ["experiment", "report"],
        ):  # they run models
            assert "--device" in opts, path


def test_quiet_listings_print_the_data_without_the_chatter(cli):
    loud, quiet = cli("layers", "resnet18", "--size", "32"), cli("layers", "resnet18", "--size", "32", "--quiet")
    assert loud.code == quiet.code == 0
    assert quiet.out == loud.out and len(quiet.out.splitlines()) > 10  # the rows, unchanged
    assert "3×32×32" in loud.err and quiet.err == ""  # the title (input shape) is chatter
    loud, quiet = cli("experiment", "list"), cli("experiment", "list", "--quiet")
    assert "nonuniqueness" in quiet.out and "experiments" in loud.out.split("\n")[0]
    assert "experiments" not in quiet.out.split("\n")[0]
    for listing in (["models"], ["presets"]):
        assert cli(*listing, "--quiet").out == cli(*listing).out  # nothing but data to begin with


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


def test_experiments_choose_by_the_same_rule(tmp_path):
    """ctx.settings is settings.choose: quick over full, and an explicit parameter wins over the quick value."""
    from dataclasses import replace

    from invert.experiments import architectures, mlp_depth, shifted_output
    from invert.experiments.registry import ExperimentContext

    def ctx(quick: bool, **params):
        return ExperimentContext("t", tmp_path, quick, params=dict(params))

    a = architectures
    assert ctx(False).settings(a.FULL, a.QUICK) == a.FULL and ctx(True).settings(a.FULL, a.QUICK) == a.QUICK
    mine = ctx(True, iterations=7, layers=["conv2"], executor="local").settings(a.FULL, a.QUICK)
    assert mine == replace(a.QUICK, iterations=7, layers=("conv2",))  # a list for a tuple field becomes a tuple
    assert ctx(False, iterations=7).settings(a.FULL, a.QUICK) == replace(a.FULL, iterations=7)
    from invert.experiments import depth

    assert ctx(True).settings(depth.FULL, depth.QUICK) == depth.QUICK  # a nested training setting stays a dataclass
    so = shifted_output
    assert ctx(True, draws=5).settings(so.FULL, so.QUICK) == {**so.FULL, **so.QUICK, "draws": 5}
    assert ctx(True).settings(so.FULL, so.QUICK)["depth"] == 3  # full where quick is silent
    assert ctx(True).settings(mlp_depth.FULL, mlp_depth.QUICK)["depths"] == mlp_depth.QUICK["depths"]


def test_an_explicit_parameter_overrides_the_quick_value_in_a_run(tmp_path):
    import csv
    import json

    from invert.experiments import precision, run_experiment

    assert precision.QUICK["depths"] != [3] and precision.QUICK["seeds"] != 1
    _, folder = run_experiment("precision", quick=True, out=tmp_path / "p", params={"depths": [3], "seeds": 1})
    with open(folder / "errors.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {int(r["depth"]) for r in rows} == {3} and len(rows) == 2  # one seed × float32/float64
    params = json.loads((folder / "config.json").read_text())["params"]
    assert params["depths"] == [3] and params["seeds"] == 1 and params["size"] == precision.QUICK["size"]


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
    """`invert --help` lists commands from a static table: each line must match the real command's help."""
    import typer

    from invert.cli import COMMANDS, _LazyGroup, app, load_command

    monkeypatch.setattr(_LazyGroup, "_loaded", {})  # nothing imported yet: the listing shows placeholders
    group = typer.main.get_command(app)
    ctx = group.make_context("invert", [], resilient_parsing=True)
    assert {"train", "decoder", "compare", "visualize", "attribute", "attack", "sweep"} <= set(COMMANDS)
    assert set(COMMANDS) <= set(group.list_commands(ctx))
    listed = {name: group.get_command(ctx, name).get_short_help_str(limit=200) for name in COMMANDS}
    for name in COMMANDS:
        real = load_command(name)
        assert real.name == name
        assert listed[name] == real.get_short_help_str(limit=200), name


def test_command_table_names_every_command_in_the_modules():
    """Every typer command function and group in invert.commands is reachable from the table (none left out)."""
    import importlib
    import inspect
    import pkgutil

    import typer
    from typer.models import ArgumentInfo, OptionInfo

    import invert.commands as pkg
    from invert.cli import COMMANDS, command_object

    reachable: set[object] = set()

    def add(obj: object) -> None:
        reachable.add(obj)
        if isinstance(obj, typer.Typer):
            reachable.update(c.callback for c in obj.registered_commands)
            for g in obj.registered_groups:
                add(g.typer_instance)

    for name in COMMANDS:
        add(command_object(name))
    defined = []
    for mod in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"invert.commands.{mod.name}")
        for attr, obj in vars(module).items():
            if inspect.isfunction(obj) and obj.__module__ != module.__name__:
                continue  # imported from elsewhere
            is_command = inspect.isfunction(obj) and any(
                isinstance(p.default, (OptionInfo, ArgumentInfo)) for p in inspect.signature(obj).parameters.values()
            )
            if is_command or isinstance(obj, typer.Typer):
                defined.append(f"{module.__name__}:{attr}")
                assert obj in reachable, f"{module.__name__}:{attr} is a command missing from invert.cli.COMMANDS"
    assert len(defined) >= 10, defined  # train, decoder groups and their commands, compare, sweep, the methods


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


def test_run_options_are_made_from_the_config_fields(cli, wide):
    """Every InversionConfig setting with a one-line doc is a `run` option: its help is that doc and the default read
    from the dataclass, its choices the field's, and unset it falls through to the preset (None)."""
    import dataclasses

    from invert.cli import load_command
    from invert.inversion.config import InversionConfig, cli_fields

    params = {p.name: p for p in load_command("run").params}
    fields = cli_fields()
    assert len(fields) >= 30 and {f.name for f in dataclasses.fields(InversionConfig)} - {f.name for f in fields} == {
        "lr_gamma",
        "lr_every",
        "blur_schedule",
    }
    text = _plain(cli("run", "--help").out)
    for f in fields:
        p = params[f.name]
        assert p.help.startswith(f.metadata["help"]) and p.default is None, f.name
        if "choices" in f.metadata:
            assert "<" + "|".join(f.metadata["choices"]) + ">" in text, f.name
    assert params["iterations"].help.endswith(f"(default {InversionConfig().iterations}).")
    assert params["lr_schedule"].opts == ["--schedule"] and params["clamp"].secondary_opts == ["--no-clamp"]
