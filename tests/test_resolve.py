"""Settings resolve in one place, once per run (parts.resolve): the layer's stride is measured once, a resolved config
is left as it is, the searched procedure is one rule, and the plain-gd preset is the report's eq. 4 config."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from invert.encoders import build_encoder
from invert.inversion import InversionConfig, get_preset, invert, resolve
from invert.inversion import parts as parts_module
from invert.inversion.config import REPORT_INIT_MEAN, SEARCHED_OBJECTIVES, is_searched
from invert.inversion.parts import config_objective, stride_from_shape
from invert.job import JobSpec, resolve_config, run_job


@pytest.fixture
def counted_strides(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = parts_module.output_stride

    def counting(encoder: torch.nn.Module, size: int) -> int | None:
        calls.append(size)
        return real(encoder, size)

    monkeypatch.setattr(parts_module, "output_stride", counting)
    return calls


def test_a_run_measures_the_stride_once(counted_strides: list[int]) -> None:
    enc = build_encoder("cifar_resnet20", "conv4")
    img = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    res = invert(enc, img, iterations=2, record_every=1)
    assert counted_strides == [128] and res.iterations == 2
    c = resolve(InversionConfig(size=128), enc)
    assert c.is_resolved and c.smooth == pytest.approx(2.0 * 128 / 224)  # stride 4 at conv4: 2σ_b
    assert resolve(c, enc) is c and len(counted_strides) == 2  # resolved: nothing measured, nothing changed


def test_resolve_without_encoder_or_outside_the_searched_procedure_measures_nothing(
    counted_strides: list[int],
) -> None:
    enc = build_encoder("cifar_resnet20", "conv4")
    assert resolve(InversionConfig()).smooth == 0.0  # no encoder: the stride is unknown, no smoothing
    plain = resolve(InversionConfig(optimizer="gd"), enc)
    assert counted_strides == [] and plain.smooth == 0.0 and plain.lr == pytest.approx(0.05) and plain.tv == 0.0
    assert resolve(InversionConfig(size=224), enc, stride=16).smooth == pytest.approx(2.0)


def test_stride_from_an_output_shape_is_what_output_stride_measures() -> None:
    from invert.encoders.base import output_stride

    enc = build_encoder("cifar_resnet20", "conv4")
    with torch.no_grad():
        shape = enc(torch.zeros(1, 3, 64, 64)).shape[1:]
    assert stride_from_shape(shape, 64) == output_stride(enc, 64) == 4
    assert stride_from_shape((10,), 64) is None


def test_one_searched_rule_for_configs_and_built_objectives() -> None:
    assert is_searched("adam", "l1") and not is_searched("gd", "l1") and not is_searched("adam", "l2")
    small = resolve(InversionConfig(size=32))
    assert config_objective(small).name in SEARCHED_OBJECTIVES  # the default's L1 + L2 term at ≤ 112 px
    assert not is_searched("adam", config_objective(resolve(InversionConfig(size=32, l2_weight=2.0))).name)


def test_run_job_measures_no_separate_stride_and_records_the_resolved_config(
    counted_strides: list[int], tmp_path: Path
) -> None:
    spec = JobSpec(model="cifar_resnet20", layer="conv4", out=str(tmp_path / "run"))
    result, out = run_job(spec, resolve_config(None, {"size": 128, "iterations": 2}), progress=False)
    assert counted_strides == []  # the stride came from the job's one probe pass
    inv = json.loads((out / "config.json").read_text())["inversion"]
    assert inv["smooth"] == pytest.approx(2.0 * 128 / 224) and inv["lr"] == pytest.approx(0.2 * 128 / 224)
    assert inv["l2_weight"] == 0.0 and inv["average"] == pytest.approx(0.6)
    assert result.iterations == 2


def test_plain_gd_preset_is_the_reports_eq4_config() -> None:
    written = InversionConfig(  # as the report's experiments wrote it out
        objective="l1",
        optimizer="gd",
        lr=0.01,
        lr_schedule="linear",
        lr_end=0.0,
        blur=0.0,
        clamp=False,
        init_mean=REPORT_INIT_MEAN,
        iterations=7,
        size=32,
        seed=3,
        record_every=2,
    )
    preset = get_preset("plain-gd").config().updated(lr=0.01, iterations=7, size=32, seed=3, record_every=2)
    assert resolve(preset) == resolve(written)
    constant = dataclasses.replace(preset, lr_schedule="constant", lr_end=None)
    assert resolve(constant) == resolve(dataclasses.replace(written, lr_schedule="constant", lr_end=None))
