"""decoder-vs-optimisation: the quick outcome and its figures, and `invert compare` on the run it leaves."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.usefixtures("decoder_cache")  # one decoder cache per session: decoders train once


def test_decoder_vs_optimisation_quick_and_compare_cli(shared, tmp_path):
    from typer.testing import CliRunner

    from invert.cli import app
    from invert.experiments import run_experiment

    verdict, folder = run_experiment("decoder-vs-optimisation", quick=True, out=tmp_path / "exp")
    rows = json.loads((folder / "comparison.json").read_text())["rows"]
    by = {(r["layer"], r["method"]): r for r in rows}
    assert [r["method"] for r in rows] == ["decoder", "optimisation", "hybrid"] * 2
    for name in (
        "comparison.csv",
        "comparison.md",
        "side_by_side.png",
        "cost_quality.png",
        "summary.md",
        "config.json",
    ):
        assert (folder / name).stat().st_size > 0, name
    # measured with the issue-10 default: conv2 m_g/m_s decoder 0.68, optimisation 0.28, hybrid 0.074–0.078, PSNR 24.7 /
    # 12.9 / 29.9–30.0 dB; conv4 (update smoothing σ_u 1) 1.2 / 0.47 / 0.41, PSNR 16.3 / 9.8 / 14.1 dB (before the
    # smoothing 0.50 / 0.42, 9.7 / 14.0 dB); s per image 0.038 (amortised) vs 0.13 (conv2)
    assert verdict.outcome == "HELD" and [p.outcome for p in verdict.parts] == ["HELD"] * 3
    for layer in ("conv2", "conv4"):
        dec, opt, hyb = (by[(layer, m)] for m in ("decoder", "optimisation", "hybrid"))
        assert opt["m_g_over_m_s"] < 1 and opt["m_g_over_m_s"] < dec["m_g_over_m_s"]  # 60 Adam steps get below m_s
        assert hyb["m_g_over_m_s"] < 1
        assert 5 * dec["amortised_seconds_per_image"] < opt["seconds_per_image"]
        assert dec["psnr"] > opt["psnr"] + 3  # the trained decoder is closer to the image, optimisation to the code
    assert by[("conv4", "decoder")]["m_g_over_m_s"] > 1 > by[("conv2", "decoder")]["m_g_over_m_s"]

    runner = CliRunner()
    out = tmp_path / "cmp"
    res = runner.invoke(
        app,
        [
            "compare",
            "--run",
            str(folder / "decoders"),
            "--layer",
            "conv2",
            "--images",
            "2",
            "--iterations",
            "3",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    got = json.loads((out / "comparison.json").read_text())
    assert got["inversion_config"]["iterations"] == 3 and list(got["winners"]) == ["conv2"]
    res = runner.invoke(
        app, ["compare", "--run", str(folder / "decoders"), "--layer", "conv5", "--out", str(tmp_path / "c2")]
    )
    assert res.exception is not None and "no trained decoder for layer(s) conv5" in str(res.exception)
