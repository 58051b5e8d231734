"""`precision` (Badger §4.2): exact inversion recovers the input only in float64 — quick run, independent solve."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from invert.encoders import build_encoder
from invert.experiments._support import report_image


def test_precision_quick_float64_recovers_float32_does_not(quick_run):
    verdict, folder, _ = quick_run("precision")  # shared with the README-verdict test
    assert verdict.outcome == "HELD"
    with open(folder / "errors.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["depth"]) >= 3]
    e64 = max(float(r["relative_error"]) for r in rows if r["dtype"] == "float64")
    e32 = min(float(r["relative_error"]) for r in rows if r["dtype"] == "float32")
    assert e64 < 1e-6 and e32 > 1e-3  # measured ≤ 1.9e-9 and ≥ 0.066
    assert verdict.details["max_float64_error"] == pytest.approx(e64, rel=1e-5)
    assert (folder / "relative_error.png").is_file()


@pytest.mark.parametrize(("dtype", "recovered"), [(np.float64, True), (np.float32, False)])
def test_layer_by_layer_solve_agrees(dtype, recovered):
    # an independent route: numpy's solve applied layer by layer (eq. 11) to the quick setting's depth-3 MLP
    img, _ = report_image(12)
    enc = build_encoder("mlp-432x3-in3x12x12", "output", seed=0, dtype=torch.float64)
    fcs = [m for m in enc.modules() if isinstance(m, torch.nn.Linear)]
    layers = [(m.weight.detach().numpy().astype(dtype), m.bias.detach().numpy().astype(dtype)) for m in fcs]
    a = img.reshape(-1).double().numpy().astype(dtype)
    o = a
    for w, b in layers:
        o = w @ o + b
    x = o
    for w, b in reversed(layers):
        x = np.linalg.solve(w, x - b)
    err = float(np.linalg.norm(x.astype(np.float64) - a) / np.linalg.norm(a))
    assert (err < 1e-6) if recovered else (err > 1e-3)
