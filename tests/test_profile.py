"""`invert profile`: layer choice per family, the files it writes, resume, a failing layer, the page, and agreement
with `invert run` (the Python job) on the same settings."""

from __future__ import annotations

import base64
import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from invert.errors import InvertError
from invert.profiling import choose_layers, profile
from invert.profiling.runner import split_weights

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[str]:
    """Two different 32 px targets: the embedded photograph and its mirror image."""
    from invert.io import default_image_path, load_image, save_image

    folder = tmp_path_factory.mktemp("profile-images")
    img = load_image(default_image_path(), 32)
    save_image(img, folder / "a.png")
    save_image(img.flip(-1), folder / "b.png")
    return [str(folder / "a.png"), str(folder / "b.png")]


@pytest.fixture(scope="module")
def small(tmp_path_factory, images) -> tuple[Path, object]:
    """One small profile (untrained CIFAR ResNet-20, 32 px, conv1 and fc, two images, 5 iterations), in-process."""
    out = tmp_path_factory.mktemp("profile") / "p"
    report = profile(["cifar_resnet20"], out, images=images, layers="conv1,fc", iterations=5, workers=1, progress=False)
    return out, report


def test_layer_choice_per_family() -> None:
    names = lambda model, *a: [p.name for p in choose_layers(model, *a)]  # noqa: E731
    assert names("resnet18", None, 64) == ["conv1", "conv2", "conv3", "conv4", "conv5", "avgpool", "fc"]
    assert names("cifar_resnet20") == ["conv1", "conv2", "conv3", "conv4", "avgpool", "fc"]
    assert names("vgg11", None, 64) == [
        "features.2",
        "features.5",
        "features.10",
        "features.15",
        "features.20",
        "classifier.6",
    ]
    vit = names("vit_b_16")
    assert vit == [f"encoder.layers.encoder_layer_{k}" for k in range(12)] + ["heads.head"]
    # sizes and depth: ResNet-18 at 64 px, conv1 = stem after ReLU (stride 2, 64 channels)
    r18 = choose_layers("resnet18", None, 64)
    assert r18[0].stride == 2 and r18[0].shape == (64, 32, 32)
    assert r18[0].elements_ratio == pytest.approx(64 * 32 * 32 / (3 * 64 * 64))
    assert r18[4].stride == 32 and r18[-1].stride is None and r18[-1].shape == (1000,)
    assert [p.depth for p in r18] == sorted(p.depth for p in r18) and r18[-1].depth == 1.0
    # a list is taken in depth order; `all` is every node with a tensor output; unknown names are refused
    assert names("cifar_resnet20", "fc, conv3") == ["conv3", "fc"]
    every = choose_layers("cifar_resnet20", "all")
    assert len(every) > 60 and every[-1].node == "linear" and all(p.shape for p in every)
    with pytest.raises(InvertError, match="conv9"):
        choose_layers("cifar_resnet20", "conv9")


def test_layer_choice_timm_convnext() -> None:
    pytest.importorskip("timm")
    assert [p.name for p in choose_layers("timm:convnext_tiny", None, 64)] == [
        "stages.0",
        "stages.1",
        "stages.2",
        "stages.3",
        "head.fc",
    ]


def test_weights_words_after_the_option_are_weights() -> None:
    # `invert profile cifar_resnet20 --weights untrained trained`: the shell hands `trained` over as a model
    assert split_weights(["cifar_resnet20", "trained"], ["untrained"]) == (["cifar_resnet20"], ["untrained", "trained"])
    assert split_weights(["resnet18"], ["untrained,imagenet"]) == (["resnet18"], ["untrained", "imagenet"])
    assert split_weights(["resnet18"], []) == (["resnet18"], ["untrained"])


def test_profile_writes_every_file_and_resumes(small, images) -> None:
    out, report = small
    assert report.ran == report.cells == 2 and report.failed == 0
    for name in ("table.csv", "profile.png", "grid.png", "profile.json", "index.html"):
        assert (out / name).is_file(), name
    assert (out / "profile.png").read_bytes()[:8] == PNG
    rows = list(csv.DictReader((out / "table.csv").open()))
    assert [(r["layer"], r["image"]) for r in rows] == [
        ("conv1", "a.png"),
        ("conv1", "b.png"),
        ("fc", "a.png"),
        ("fc", "b.png"),
    ]
    conv1 = rows[0]
    assert (
        conv1["status"] == "complete"
        and conv1["stride"] == "1"
        and float(conv1["elements_ratio"]) == pytest.approx(16 / 3)
    )
    assert float(conv1["ms_over_norm"]) == pytest.approx(float(conv1["m_s"]) / float(conv1["target_norm"]), rel=1e-4)
    assert 5 < float(conv1["psnr"]) < 60 and float(conv1["m_i"]) > 0 and conv1["iterations"] == "5"
    data = json.loads((out / "profile.json").read_text())
    assert data["counts"] == {"complete": 2, "failed": 0, "pending": 0}
    assert [lay["name"] for lay in data["layers"]["cifar_resnet20"]] == ["conv1", "fc"]
    # resume: a second call recomputes nothing and leaves every cell folder as it was
    stamps = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*/cell.json")}
    again = profile(["cifar_resnet20"], out, images=images, layers="conv1,fc", iterations=5, workers=1, progress=False)
    assert again.ran == 0 and again.skipped_complete == 2
    assert {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*/cell.json")} == stamps
    assert len(again.rows) == 4 and all(r["status"] == "complete" for r in again.rows)


class _Page(HTMLParser):
    """Collects the text, the <img> sources, and checks that every non-void element is closed in order."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.srcs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs).get("src", ""))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_html_page_is_valid_names_every_layer_and_its_images_load(small) -> None:
    out, _ = small
    text = (out / "index.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    page = _Page()
    page.feed(text)
    page.close()
    assert page.errors == [] and page.stack == []
    body = " ".join(page.text)
    for layer in ("conv1", "fc", "relu", "linear"):  # layer names and their graph nodes
        assert layer in body
    assert len(page.srcs) == 2  # profile.png and grid.png, embedded: the page opens offline on its own
    for src in page.srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG


def test_a_failing_layer_is_reported_and_the_rest_kept(tmp_path, images, monkeypatch) -> None:
    import invert.profiling.cell as cell

    real = cell.invert_layer

    def flaky(task, out):
        if task.job.layer == "conv2":
            raise RuntimeError("boom at conv2")
        return real(task, out)

    monkeypatch.setattr(cell, "invert_layer", flaky)
    out = tmp_path / "p"
    report = profile(
        ["cifar_resnet20"], out, images=images[:1], layers="conv1,conv2", iterations=3, workers=1, progress=False
    )
    assert report.failed == 1 and [f["layer"] for f in report.failures] == ["conv2"]
    assert "boom at conv2" in report.failures[0]["error"]
    status = {r["layer"]: r["status"] for r in report.rows}
    assert status == {"conv1": "complete", "conv2": "failed"}
    assert (out / "profile.png").is_file() and "boom at conv2" in (out / "index.html").read_text()
    # the failed layer is skipped on resume unless asked; --retry-failed reruns it alone
    monkeypatch.setattr(cell, "invert_layer", real)
    again = profile(
        ["cifar_resnet20"],
        out,
        images=images[:1],
        layers="conv1,conv2",
        iterations=3,
        workers=1,
        progress=False,
        retry_failed=True,
    )
    assert again.ran == 1 and again.failed == 0 and not again.failures


def test_profile_agrees_with_invert_run(tmp_path, images) -> None:
    """The profile's figures after the budget are `invert run`'s; at m_s they are `invert run --stop-below-ms`'s."""
    from invert.job import JobSpec, resolve_config, run_job

    out = tmp_path / "p"
    report = profile(
        ["cifar_resnet20"], out, images=images[:1], layers="conv1,conv3", iterations=20, workers=1, progress=False
    )
    rows = {(r["layer"], r["index"]): r for r in report.rows}
    for layer in ("conv1", "conv3"):
        job = JobSpec(model="cifar_resnet20", layer=layer, images=images[:1], overwrite=True)
        config = resolve_config(None, {"size": 32, "iterations": 20})
        full, _ = run_job(JobSpec(**{**job.__dict__, "out": str(tmp_path / f"{layer}-full")}), config, progress=False)
        stop, _ = run_job(
            JobSpec(**{**job.__dict__, "out": str(tmp_path / f"{layer}-stop")}),
            config.updated(stop_below_ms=True),
            progress=False,
        )
        for i in range(1):
            row = rows[(layer, i)]
            assert row["m_i"] == pytest.approx(float(full.m_i[i, 0]), rel=1e-4)
            assert row["psnr"] == pytest.approx(float(full.psnr[i, 0]), rel=1e-4)
            assert row["ssim"] == pytest.approx(float(full.ssim[i, 0]), rel=1e-4, abs=1e-6)
            assert row["m_s"] == pytest.approx(float(full.m_s[i]), rel=1e-5)
            assert int(stop.below_ms_at[i, 0]) >= 0, "the test's budget should reach m_g < m_s"
            assert row["iterations_to_ms"] == int(stop.below_ms_at[i, 0])
            assert row["m_i_at_ms"] == pytest.approx(float(stop.m_i[i, 0]), rel=1e-4)
            assert row["psnr_at_ms"] == pytest.approx(float(stop.psnr[i, 0]), rel=1e-4)
            assert row["ssim_at_ms"] == pytest.approx(float(stop.ssim[i, 0]), rel=1e-4, abs=1e-6)


def test_sweep_table_reads_the_first_below_ms_figures(tmp_path) -> None:
    """A sweep row gains m_i/PSNR/SSIM at the first m_g < m_s: from a watched run's at_ms, or from a run that stopped
    there; a full-budget run that was not watched leaves them empty."""
    from invert.sweep.aggregate import COLUMNS, cell_row
    from invert.sweep.cells import write_cell
    from invert.sweep.spec import Cell

    assert {"m_i_at_ms", "psnr_at_ms", "ssim_at_ms"} <= set(COLUMNS)
    metrics = {
        "m_g": [1.0],
        "m_s": [2.0],
        "m_i": [3.0],
        "psnr": [20.0],
        "ssim": [0.5],
        "below_ms": [True],
        "best_restart": [0],
        "runs": [{"target": 0, "below_ms_at": 7}],
    }

    def row(cell: Cell, extra: dict) -> dict:
        data = json.dumps({**metrics, **extra}).encode()
        write_cell(
            tmp_path, {"id": cell.id, "settings": cell.settings, "status": "complete", "files": {"metrics.json": data}}
        )
        return cell_row(tmp_path, cell)

    watched = row(
        Cell("m", "conv1", None, "untrained", "default", 0), {"at_ms": {"m_i": [1.5], "psnr": [25.0], "ssim": [0.7]}}
    )
    assert (watched["m_i_at_ms"], watched["psnr_at_ms"], watched["ssim_at_ms"], watched["below_ms_at"]) == (
        1.5,
        25.0,
        0.7,
        7,
    )
    stopped = row(Cell("m", "conv2", None, "untrained", "default", 0, run=(("stop_below_ms", True),)), {})
    assert (stopped["m_i_at_ms"], stopped["psnr_at_ms"], stopped["ssim_at_ms"]) == (3.0, 20.0, 0.5)
    plain = row(Cell("m", "conv3", None, "untrained", "default", 0), {})
    assert plain.get("psnr_at_ms") is None


def test_cli_profile_prints_one_line_per_cell(tmp_path, cli) -> None:
    r = cli(
        "profile",
        "cifar_resnet20",
        "--layers",
        "conv1",
        "--iterations",
        "3",
        "--workers",
        "1",
        "--quiet",
        "--out",
        tmp_path / "p",
    )
    assert r.code == 0, r.out + r.err
    lines = [line for line in r.out.splitlines() if line.startswith("[1/1] cifar_resnet20 untrained conv1:")]
    assert len(lines) == 1 and "PSNR" in lines[0]
    assert (tmp_path / "p" / "index.html").is_file()
    help_text = cli("profile", "--help").out
    assert "--layers" in help_text and "--weights" in help_text and "--decoder" in help_text
    bad = cli("profile", "cifar_resnet20", "--layers", "conv9", "--out", tmp_path / "q")
    assert bad.code == 2 and "conv9" in bad.err and not (tmp_path / "q").exists()


def test_decoder_psnr_is_added_and_the_decoder_reused(tmp_path, images, photo32, monkeypatch) -> None:
    """--decoder trains a quick decoder per layer (on CIFAR-10 training images; here 16 crops of the photograph) and
    adds its PSNR; a second profile with the same decoder folder reuses it."""
    import invert.datasets

    crops = photo32.repeat(8, 1, 1, 1)
    monkeypatch.setattr(invert.datasets, "load_cifar10", lambda split, limit: (crops[:limit], None))
    kw = dict(images=images[:1], layers="fc", iterations=2, workers=1, progress=False, decoder=True)
    kw.update(decoder_epochs=1, decoder_images=16, decoder_dir=tmp_path / "decoders")
    first = profile(["cifar_resnet20"], tmp_path / "a", **kw)
    second = profile(["cifar_resnet20"], tmp_path / "b", **kw)
    for report in (first, second):
        assert not report.failures and 3 < report.rows[0]["decoder_psnr"] < 40
    assert second.rows[0]["decoder_psnr"] == pytest.approx(first.rows[0]["decoder_psnr"], rel=1e-5)
    metrics = [json.loads(next((tmp_path / d / "cells").glob("*/metrics.json")).read_text()) for d in "ab"]
    assert [m["decoder"]["reused"] for m in metrics] == [False, True]
    assert next((tmp_path / "a" / "cells").glob("*/decoded_0.png")).read_bytes()[:8] == PNG
