"""Shared fixtures: the offline material folder, real target images, and an in-process CLI runner."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch

from invert.io import default_image_path, load_image, resize_image, shared_dir

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared (or $INVERT_SHARED); tests that need real material skip only if it is truly absent."""
    root = shared_dir()
    if root is None:
        pytest.skip("offline material folder ../shared is absent (set INVERT_SHARED)")
    return root


@pytest.fixture(scope="session")
def photo() -> Path:
    """The photograph embedded in the package: tests that need only *an* image use it, so a bare clone runs them."""
    return default_image_path()


@pytest.fixture(scope="session")
def photo32() -> torch.Tensor:
    """Two different 32×32 natural images from the embedded photograph (the whole, and its top-left corner)."""
    full = load_image(default_image_path(), 96)
    return torch.stack([resize_image(full, 32), full[:, :32, :32].contiguous()])


@pytest.fixture(scope="session")
def dalmatian(shared: Path) -> Path:
    return shared / "data" / "images" / "dalmatian.jpg"


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run the real console entry point in-process: returns exit code, stdout, stderr."""
    from invert.cli import main

    def run(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["invert", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        cap = capsys.readouterr()
        return CliResult(code, cap.out, cap.err)

    return run


@pytest.fixture(scope="session")
def cifar64_cache(tmp_path_factory) -> Path:
    """One cache of the quick CIFAR-10 ResNet-18 (64 px) for every experiment test that trains it (depth, kernels)."""
    return tmp_path_factory.mktemp("cifar64-cache")


@pytest.fixture(scope="session")
def decoder_cache(tmp_path_factory):
    """One decoder cache for the whole test session (cold at its start), so the decoder experiments train once."""
    import os

    old = os.environ.get("INVERT_CACHE")
    os.environ["INVERT_CACHE"] = str(tmp_path_factory.getbasetemp() / "invert-cache")
    yield
    if old is None:
        os.environ.pop("INVERT_CACHE", None)
    else:
        os.environ["INVERT_CACHE"] = old


class QuickRun(NamedTuple):
    """One quick experiment run through the real `invert experiment run NAME --quick --out DIR` (seed 0)."""

    verdict: Any
    folder: Path
    output: str


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """``quick_run(name)``: each quick experiment runs once per test session, shared by every test that checks it.

    It runs through the CLI (in-process), keeping the verdict the CLI's ``run_experiment`` call returned, so the
    experiment's own test, the README-verdict test and the CLI test read one run. Tests must not write into the folder.
    """
    from typer.testing import CliRunner

    import invert.experiments as experiments
    from invert.cli import app

    done: dict[str, QuickRun] = {}

    def get(name: str) -> QuickRun:
        if name not in done:
            out = tmp_path_factory.mktemp("quick-" + name) / name
            real, kept = experiments.run_experiment, []

            def keep(*args: Any, **kwargs: Any) -> Any:
                kept.append(real(*args, **kwargs))
                return kept[-1]

            experiments.run_experiment = keep  # the CLI imports it at call time: this spy sees the real result
            try:
                args = ["experiment", "run", name, "--quick", "--out", str(out), "--device", "cpu"]
                r = CliRunner().invoke(app, args)
            finally:
                experiments.run_experiment = real
            if r.exception is not None and not isinstance(r.exception, SystemExit):
                raise r.exception
            assert r.exit_code == 0 and len(kept) == 1, r.output
            done[name] = QuickRun(kept[0][0], kept[0][1], r.output)
        return done[name]

    return get


@pytest.fixture(scope="session")
def load_benchmark():
    """Load a script from benchmarks/ as a module by its name (they are scripts, not a package)."""
    import importlib.util

    def load(name: str) -> Any:
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
