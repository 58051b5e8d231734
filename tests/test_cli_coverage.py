"""Every `invert` command and `invert run` option a user relies on, run through the real CLI at tiny sizes.

Each option is checked where it lands (config.json) and, where cheap, by what it does.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from invert.inversion.config import PRESETS

BASE = ("run", "--model", "cifar_resnet20", "--layer", "conv1", "--size", "32", "--iterations", "3", "--quiet")


def run(cli, out: Path, *extra: str):
    """`invert run` at the tiny base setting plus ``extra``; returns (result, config.json, metrics.json)."""
    r = cli(*BASE, "--out", out, *extra)
    assert r.code == 0, r.err
    return r, json.loads((out / "config.json").read_text()), json.loads((out / "metrics.json").read_text())


def first(value: object) -> object:
    """A metrics.json value for the single image (a scalar, or a one-element list per image)."""
    return value[0] if isinstance(value, list) else value


def history(out: Path) -> list[dict[str, str]]:
    with open(out / "history.csv") as fh:
        return list(csv.DictReader(fh))


def test_models_presets_and_experiment_list(cli) -> None:
    r = cli("models")
    assert r.code == 0 and all(name in r.out for name in ("resnet18", "resnet50", "cifar_resnet20", "vit_b_16"))
    r = cli("presets")
    assert r.code == 0 and all(name in r.out for name in PRESETS)
    assert "objective_weight=0.15" in r.out and "lr=1000.0" in r.out  # what badger and mahendran set
    r = cli("experiment", "list")
    assert r.code == 0 and all(name in r.out for name in ("precision", "nonuniqueness", "shifted-output", "mlp-width"))


def test_experiment_run_quick_writes_its_files(cli, quick_run) -> None:
    """`invert experiment run precision --quick --out DIR` (run once per session by the quick_run fixture)."""
    run = quick_run("precision")
    assert {"config.json", "summary.md", "verdict.json", "errors.csv", "relative_error.png"} <= {
        p.name for p in run.folder.iterdir()
    }
    verdict = json.loads((run.folder / "verdict.json").read_text())
    assert verdict["outcome"] == "HELD" and "claim HELD" in run.output
    config = json.loads((run.folder / "config.json").read_text())
    assert config["status"] == "complete" and config["quick"] is True and config["out"] == str(run.folder)
    r = cli("experiment", "run", "precision", "--quick", "--out", run.folder, "--device", "cpu")
    assert r.code != 0 and "--overwrite" in r.err  # an existing result is not silently replaced


def test_lr_auto_writes_search_and_uses_the_best_trial(cli, tmp_path: Path) -> None:
    _, config, metrics = run(cli, tmp_path / "o", "--lr", "auto")
    with open(tmp_path / "o" / "lr_search.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    finite = [r for r in rows if math.isfinite(float(r["m_g"]))]
    best = min(finite, key=lambda r: float(r["m_g"]))
    assert config["inversion"]["lr"] == pytest.approx(float(best["lr"]), rel=1e-5)
    assert config["job"]["lr_auto"] is True
    assert metrics["status"] == "complete"


@pytest.mark.parametrize("preset", ["badger", "mahendran"])
def test_presets_set_their_values_and_explicit_options_win(cli, tmp_path: Path, preset: str) -> None:
    _, config, _ = run(cli, tmp_path / preset, "--preset", preset)
    inv = config["inversion"]
    for key, value in PRESETS[preset].settings.items():
        if key not in ("size", "iterations"):
            assert inv[key] == pytest.approx(value) if isinstance(value, float) else inv[key] == value, key
    assert (
        inv["size"] == 32 and inv["iterations"] == 3
    )  # given on the command line: they beat the preset's 299 px / 500
    rows = history(tmp_path / preset)
    if preset == "badger":  # blur σ follows 2.4 → 0.4 linearly; plain GD at constant lr 0.1
        assert float(rows[0]["sigma"]) == pytest.approx(2.4) and float(rows[0]["lr"]) == pytest.approx(0.1)
    else:  # the step schedule's first value
        assert float(rows[0]["lr"]) == pytest.approx(1000.0)


def test_blur_sets_sigma_each_step(cli, tmp_path: Path) -> None:
    _, config, _ = run(cli, tmp_path / "b", "--blur", "1.5", "--blur-end", "0.5", "--record-every", "1")
    assert config["inversion"]["blur"] == 1.5 and config["inversion"]["blur_end"] == 0.5
    sigmas = [float(r["sigma"]) for r in history(tmp_path / "b")]
    assert sigmas[0] == pytest.approx(1.5) and sigmas == sorted(sigmas, reverse=True) and min(sigmas) >= 0.5 - 1e-6


def test_smoothing_is_chosen_by_stride_and_the_options_set_it(cli, tmp_path: Path) -> None:
    """config.json records the concrete σ_u: the stride rule's at conv1 (stride 1: off) and at conv4 (stride 4) at 128
    px (2 × blur σ 128/224), off at 32 px (≤ 112 px), or --smooth / --smooth-over as given; --smooth 0 leaves the run
    as it was without it."""
    _, chosen, _ = run(cli, tmp_path / "c1")
    assert (chosen["inversion"]["smooth"], chosen["inversion"]["smooth_over"]) == (0.0, 30)
    _, small, _ = run(cli, tmp_path / "c4-32", "--layer", "conv4")
    assert small["inversion"]["smooth"] == 0.0
    conv4 = ("--layer", "conv4", "--record-every", "1", "--size", "128")
    _, deep, m_deep = run(cli, tmp_path / "c4", *conv4)
    assert deep["inversion"]["smooth"] == pytest.approx(2 * 128 / 224)
    _, given, _ = run(cli, tmp_path / "g", *conv4, "--smooth", "0.5", "--smooth-over", "0")
    assert (given["inversion"]["smooth"], given["inversion"]["smooth_over"]) == (0.5, 0)
    _, off, m_off = run(cli, tmp_path / "off", *conv4, "--smooth", "0")
    assert off["inversion"]["smooth"] == 0.0
    assert first(m_deep["m_g"]) != first(m_off["m_g"])  # it changes the run
    assert float(history(tmp_path / "off")[0]["m_g"]) == pytest.approx(float(history(tmp_path / "c4")[0]["m_g"]))
    r = cli(*BASE, "--out", tmp_path / "bad", "--smooth", "-1")
    assert r.code == 2 and "Traceback" not in r.err


def test_history_records_the_update_smoothing_as_it_fades(cli, tmp_path: Path) -> None:
    """history.csv's ``smooth`` column is σ_u per iteration: --smooth 1 faded linearly over 4 iterations gives
    1, 0.75, 0.5, 0.25, then 0 (by hand), beside the blur σ in ``sigma``."""
    run(cli, tmp_path / "h", "--iterations", "6", "--record-every", "1", "--smooth", "1", "--smooth-over", "4")
    rows = history(tmp_path / "h")
    by_step = {int(r["iteration"]): float(r["smooth"]) for r in rows}
    assert by_step == pytest.approx({0: 1.0, 1: 0.75, 2: 0.5, 3: 0.25, 4: 0.0, 5: 0.0, 6: 0.0})
    assert float(rows[0]["sigma"]) == pytest.approx(0.5)  # the blur step's σ at 32 px, a column of its own


def test_priors_add_to_the_loss(cli, tmp_path: Path) -> None:
    """Same seed, same start: the first recorded loss grows by the prior's weight × its value at the start (> 0)."""
    _, default_cfg, _ = run(cli, tmp_path / "default")  # the default's own TV, made concrete in config.json
    assert (default_cfg["inversion"]["tv"], default_cfg["inversion"]["tv_scale"]) == (0.03, "target")
    _, plain_cfg, _ = run(cli, tmp_path / "plain", "--tv", "0", "--record-every", "1")
    plain = history(tmp_path / "plain")
    for option, key in (("--tv", "tv"), ("--alpha-norm", "alpha_norm")):
        _, config, _ = run(cli, tmp_path / key, "--tv", "0", option, "10", "--record-every", "1")
        assert config["inversion"][key] == 10.0 and plain_cfg["inversion"][key] == 0.0
        prior = history(tmp_path / key)
        assert float(prior[0]["m_g"]) == pytest.approx(float(plain[0]["m_g"]), rel=1e-5)  # the same start image
        assert float(prior[0]["loss"]) > float(plain[0]["loss"]) + 1e-3, key


def test_stop_below_ms_stops_early_below_ms(cli, tmp_path: Path) -> None:
    r = cli(*BASE[:-3], "--iterations", "300", "--quiet", "--stop-below-ms", "--out", tmp_path / "s")
    assert r.code == 0, r.err
    metrics = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert json.loads((tmp_path / "s" / "config.json").read_text())["inversion"]["stop_below_ms"] is True
    assert metrics["iterations"] < 300 and first(metrics["below_ms"]) is True
    assert first(metrics["m_g"]) < first(metrics["m_s"])


def test_dtype_float64_runs_in_float64(cli, tmp_path: Path) -> None:
    _, config, metrics = run(cli, tmp_path / "d", "--dtype", "float64")
    assert config["job"]["dtype"] == "float64" and metrics["dtype"] == "float64"
    _, _, m32 = run(cli, tmp_path / "f", "--dtype", "float32")
    assert first(metrics["m_g"]) == pytest.approx(first(m32["m_g"]), rel=1e-3)  # same problem and seed, other rounding
    assert first(metrics["m_g"]) != first(m32["m_g"])


def test_init_image_starts_from_that_image(cli, tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (32, 1, 3))
    Image.fromarray(ramp).save(tmp_path / "start.png")
    _, config, _ = run(
        cli, tmp_path / "i", "--init-image", tmp_path / "start.png", "--lr", "1e-9", "--blur", "0", "--iterations", "1"
    )
    assert config["inversion"]["init"] == "image" and config["job"]["init_image"].endswith("start.png")
    rec = np.asarray(Image.open(tmp_path / "i" / "reconstruction.png")).astype(int)
    assert np.abs(rec - ramp.astype(int)).max() <= 1  # lr 1e-9: the result is the start image


def test_init_mean_and_std_set_the_start(cli, tmp_path: Path) -> None:
    """--init-mean / --init-std reach the start: a constant start at 0.3 comes back as 0.3 after a 1e-9 step; the
    default start is N(0.5, 1/20), and a negative spread is refused with the fix."""
    tiny = ("--lr", "1e-9", "--blur", "0", "--iterations", "1")
    _, config, _ = run(cli, tmp_path / "c", "--init", "constant", "--init-mean", "0.3", *tiny)
    assert config["inversion"]["init_mean"] == 0.3
    rec = np.asarray(Image.open(tmp_path / "c" / "reconstruction.png")).astype(int)
    assert np.abs(rec - round(0.3 * 255)).max() <= 1
    _, config, _ = run(cli, tmp_path / "n", "--init-std", "0", *tiny)
    assert (config["inversion"]["init_mean"], config["inversion"]["init_std"]) == (0.5, 0.0)
    rec = np.asarray(Image.open(tmp_path / "n" / "reconstruction.png")).astype(int)
    assert np.abs(rec - round(0.5 * 255)).max() <= 1  # the default mean, no spread
    r = cli(*BASE, "--out", tmp_path / "x", "--init-std", "-0.1")
    assert r.code != 0 and "Traceback" not in r.err + r.out and ("init-std" in r.err or "≥ 0" in r.err)


def test_average_reaches_the_config_and_is_refused_outside_its_range(cli, tmp_path: Path) -> None:
    """--average lands in config.json (the default's 0.6 when not given, 0 = the iterate alone); β ≥ 1 is refused."""
    _, config, _ = run(cli, tmp_path / "d", "--stop-below-ms")
    assert config["inversion"]["average"] == 0.6
    _, config, _ = run(cli, tmp_path / "z", "--stop-below-ms", "--average", "0")
    assert config["inversion"]["average"] == 0.0
    _, config, _ = run(cli, tmp_path / "s", "--optimizer", "sgd")
    assert config["inversion"]["average"] == 0.0  # outside the searched L1 + Adam: off
    r = cli(*BASE, "--out", tmp_path / "x", "--average", "1")
    assert r.code != 0 and "Traceback" not in r.err + r.out and "--average" in r.err


def test_l2_weight_reaches_the_objective(cli, tmp_path: Path) -> None:
    """--l2-weight lands in config.json (the default's 4 when not given) and changes the loss: with the L2 term off,
    the first recorded loss is smaller by 4·√n·m_g of the start (same seed, same start, so the same m_g)."""
    _, default, _ = run(cli, tmp_path / "d", "--record-every", "1")
    _, off, _ = run(cli, tmp_path / "o", "--record-every", "1", "--l2-weight", "0")
    assert (default["inversion"]["l2_weight"], off["inversion"]["l2_weight"]) == (4.0, 0.0)
    d, o = history(tmp_path / "d")[0], history(tmp_path / "o")[0]
    assert float(d["m_g"]) == pytest.approx(float(o["m_g"]))
    n = 16 * 32 * 32  # cifar_resnet20 conv1: 16 channels at 32 × 32
    assert float(d["loss"]) - float(o["loss"]) == pytest.approx(4.0 * math.sqrt(n) * float(d["m_g"]), rel=1e-4)
    r = cli(*BASE, "--out", tmp_path / "x", "--l2-weight", "-1")
    assert r.code != 0 and "Traceback" not in r.err + r.out


def test_diverging_run_keeps_its_files_and_exits_1(cli, tmp_path: Path) -> None:
    r = cli(*BASE, "--out", tmp_path / "x", "--lr", "1e30", "--optimizer", "gd", "--no-clamp", "--schedule", "constant")
    assert r.code == 1 and "diverged" in r.err and "Traceback" not in r.err + r.out
    assert json.loads((tmp_path / "x" / "metrics.json").read_text())["status"] == "diverged"
    assert (tmp_path / "x" / "history.csv").is_file() and (tmp_path / "x" / "reconstruction.png").is_file()


@pytest.mark.parametrize(
    ("args", "lower"),
    [(("--size", "100000"), "lower --size (100000)"), (("--restarts", "100000"), "lower --restarts (100000)")],
)
def test_impossible_sizes_refused_before_allocating(cli, tmp_path: Path, args: tuple[str, ...], lower: str) -> None:
    r = cli(
        "run", "--model", "resnet18", "--layer", "conv2", "--iterations", "1", "--quiet", "--out", tmp_path / "m", *args
    )
    assert r.code == 2, r.err
    assert "Traceback" not in r.err + r.out and "this run needs about" in r.err and " is free — " in r.err
    assert lower in r.err and len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()  # refused before the output folder is made


def test_memory_estimate_by_hand() -> None:
    """One Conv2d(3→4, 3×3) + ReLU on 3×10×12: the forward allocates the conv and ReLU outputs, 4·8·10 floats each."""
    from torch import nn

    from invert.memory import IMAGE_COPIES, check_fits, estimate_run, forward_bytes

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    assert forward_bytes(net, (3, 10, 12)) == (2 * 320 * 4, 320 * 4)
    assert forward_bytes(net, (3, 10, 12), torch.float64) == (2 * 320 * 8, 320 * 8)
    est = estimate_run(net, (3, 10, 12), n_images=2, restarts=3, chunk=2, device=torch.device("cpu"))
    image = 3 * 10 * 12 * 4
    assert est.images == image * (2 + IMAGE_COPIES * 6) + 2 * 1280 * 6
    assert est.activations == 2 * 2560 * 2  # backward factor 2 × forward bytes × 2 images per pass
    assert est.model == (4 * 3 * 3 * 3 + 4) * 4
    check_fits(est, torch.device("cpu"), size=10, n_images=2, restarts=3, chunk=2)  # a few KiB: fits anywhere
