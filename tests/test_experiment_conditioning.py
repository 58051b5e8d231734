"""`conditioning` (Badger §4): linear MLPs grow worse conditioned with depth — the quick run's outcome and figures."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import torch

from invert.encoders import build_encoder


def test_conditioning_quick_condition_number_grows_with_depth(quick_run):
    verdict, folder, _ = quick_run("conditioning")  # shared with the README-verdict test
    assert verdict.outcome == "HELD"
    with open(folder / "mlp_spectra.csv") as fh:
        rows = list(csv.DictReader(fh))
    conds = [float(r["condition"]) for r in rows]
    assert [int(r["depth"]) for r in rows] == [1, 2, 3, 4]
    assert all(b > 3 * a for a, b in itertools.pairwise(conds))  # measured 1.0e3, 1.7e4, 2.8e6, 7.7e7
    assert 1e2 < conds[0] < 1e5 and conds[-1] > 1e6
    # independent check of depth 2: κ of the product of the two weight matrices by numpy's SVD
    n = int(rows[0]["n"])
    enc = build_encoder(f"mlp-{n}x2-in3x12x12", "output", seed=0, dtype=torch.float64)
    ws = [m.weight.detach().numpy() for m in enc.modules() if isinstance(m, torch.nn.Linear)]
    s = np.linalg.svd(ws[1] @ ws[0], compute_uv=False)
    assert conds[1] == np.float64(conds[1]) and abs(s[0] / s[-1] - conds[1]) < 1e-3 * conds[1]
    for f in ("mlp_spectra.png", "resnet50_top_singular_values.png", "resnet50_jacobian.csv", "verdict.json"):
        assert (folder / f).is_file()
