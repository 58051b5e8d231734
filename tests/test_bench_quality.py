"""The quality benchmark's one-run measurement (issue 10) against two plain :func:`invert` runs.

``watched_run`` takes table 1 (each image as first evaluated below m_s) and table 2 (after the budget) from one run;
here they are checked against ``invert(..., stop_below_ms=True)`` and ``invert(...)`` run separately, and a short
screen whose schedules are laid over a longer horizon against the start of the long run.
"""

from __future__ import annotations

import pytest
import torch

from invert.encoders import build_encoder
from invert.inversion import InversionConfig, invert
from invert.io import default_image_path, load_image


@pytest.fixture(scope="module")
def setting() -> tuple:
    torch.manual_seed(0)
    photo = load_image(default_image_path(), 32)
    targets = torch.stack([photo, photo.flip(-1).roll(5, -2)]).double()
    enc = build_encoder("resnet18", "conv1", seed=0, dtype=torch.float64)
    return enc, targets


@pytest.mark.parametrize(
    "settings", [{}, {"tv": 1.0, "blur": 0.5, "blur_end": 0.0}, {"optimizer": "normalized", "lr": 0.02}]
)
def test_one_watched_run_gives_both_tables_of_two_plain_runs(setting: tuple, settings: dict, load_benchmark) -> None:
    bq = load_benchmark("bench_quality")
    enc, targets = setting
    cfg = InversionConfig(size=32, seed=0, iterations=60, record_every=60, **settings)
    at, final, _ = bq.watched_run(enc, targets, cfg, 60)
    held = invert(enc, targets, cfg.updated(stop_below_ms=True))
    plain = invert(enc, targets, cfg)
    assert [r["below_ms_at"] for r in at] == held.below_ms_at[:, 0].tolist()
    assert min(r["below_ms_at"] for r in at) >= 0  # the setting gets there, so table 1 is really "at m_s"
    for i in range(len(targets)):
        for key, ref, tab in (("m_i", held.m_i, at), ("psnr", held.psnr, at), ("ssim", held.ssim, at)):
            assert tab[i][key] == pytest.approx(float(ref[i, 0]), rel=1e-8)
        assert at[i]["m_g"] == pytest.approx(float(held.m_g[i, 0]), rel=1e-8)
        for key, ref in (("m_g", plain.m_g), ("m_i", plain.m_i), ("psnr", plain.psnr), ("ssim", plain.ssim)):
            assert final[i][key] == pytest.approx(float(ref[i, 0]), rel=1e-8)
        assert at[i]["m_s"] == final[i]["m_s"] == pytest.approx(float(plain.m_s[i]), rel=1e-12)


def test_a_screen_is_the_start_of_the_long_run(setting: tuple, load_benchmark) -> None:
    bq = load_benchmark("bench_quality")
    enc, targets = setting
    cfg = InversionConfig(size=32, seed=0, tv=1.0, blur=0.5, blur_end=0.0, record_every=200)
    screen, last, _ = bq.watched_run(enc, targets, cfg, 40, horizon=200, stop_when_all=True)
    assert min(r["below_ms_at"] for r in screen) >= 0
    long_at, _, _ = bq.watched_run(enc, targets, cfg, 200)
    assert [r["below_ms_at"] for r in screen] == [r["below_ms_at"] for r in long_at]
    assert [r["m_i"] for r in screen] == pytest.approx([r["m_i"] for r in long_at], rel=1e-8)
    # it stopped once every image was below m_s
    assert last[0]["iterations_run"] == max(r["below_ms_at"] for r in screen) + 1
    # without the horizon the 40-iteration run anneals over 30 iterations: another path
    short, _, _ = bq.watched_run(enc, targets, cfg, 40, stop_when_all=True)
    assert [r["m_i"] for r in short] != pytest.approx([r["m_i"] for r in long_at], rel=1e-6)


def test_hybrid_starts_from_the_decoders_reconstruction(setting: tuple, load_benchmark, tmp_path) -> None:
    """``--hybrid RUN``: the default started from RUN's decoder output at that layer; a layer without one is skipped."""
    from invert.decoder.architecture import build_decoder
    from invert.decoder.training import save_decoder

    bq = load_benchmark("bench_quality")
    enc = build_encoder("cifar_resnet20", "conv2", seed=0)
    targets = setting[1].float()
    assert bq.decoded_start(str(tmp_path), "conv2", enc, targets) is None  # no decoder there
    dec = build_decoder("cifar_resnet20", "conv2", seed=0).eval()
    save_decoder(dec, tmp_path / "conv2" / "decoder.pt")
    start = bq.decoded_start(str(tmp_path), "conv2", enc, targets)
    with torch.no_grad():
        torch.testing.assert_close(start, dec.decode(enc(targets)).clamp(0, 1))
    cfg, budget = bq.method_config("hybrid", 32, 0, {})
    assert cfg.init == "image" and budget == bq.BUDGET and cfg.tv is None  # the default, from the decoded image
    _, final, _ = bq.watched_run(
        enc, targets, cfg.updated(lr=1e-9, blur=0.0, tv=0.0, record_every=1), 1, init_image=start
    )
    with torch.no_grad():
        m_i = ((start - targets) ** 2).flatten(1).sum(1).sqrt()
    assert [f["m_i"] for f in final] == pytest.approx(m_i.tolist(), rel=1e-5)  # lr ~0: the run ends where it began
