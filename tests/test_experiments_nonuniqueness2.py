"""`nonuniqueness` (figs. 4–5) and `relu-width` (fig. 9): quick runs write their files and the verdict follows from the saved data."""

import csv
import json
import math

import torch

from invert.experiments import run_experiment
from invert.experiments.relu_width import jacobian_rank, relu_mlp


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_nonuniqueness_quick(tmp_path):
    verdict, folder = run_experiment("nonuniqueness", quick=True, out=tmp_path / "n", seed=0)
    for f in ("distances.png", "history.csv", "summary.csv", "summary.md", "config.json", "verdict.json"):
        assert (folder / f).is_file()
    cfg = json.loads((folder / "config.json").read_text())["params"]
    hist = _rows(folder / "history.csv")
    held = True
    for layer in ("conv2", "conv5"):
        h = [r for r in hist if r["layer"] == layer]
        assert int(h[-1]["iteration"]) == cfg["iterations"] and len(h) > 10
        assert float(h[-1]["lr"]) == 0.0 or math.isnan(float(h[-1]["lr"])) or float(h[-1]["lr"]) < float(h[0]["lr"]) / 10
        mg0, mg1, mi0, mi1 = (float(h[i][k]) for i, k in ((0, "m_g"), (-1, "m_g"), (0, "m_i"), (-1, "m_i")))
        held &= mg0 / mg1 >= cfg["mg_decay"] and mi1 / mi0 >= cfg["mi_keep"]
    assert verdict.held == held
    assert ("HELD" if held else "NOT REPRODUCED") in (folder / "summary.md").read_text()


def test_nonuniqueness_verdict_turns_with_the_criterion(tmp_path):
    # demanding a million-fold m_g decay in 20 steps cannot be met: the verdict must say so
    verdict, _ = run_experiment("nonuniqueness", quick=True, out=tmp_path / "n2", params={"iterations": 20, "layers": ["conv2"], "mg_decay": 1e6})
    assert not verdict.held


def test_jacobian_rank_matches_active_units():
    # one ReLU layer: the Jacobian is diag(active)·W, so its rank is min(#active, m) for a generic W (independent count)
    x = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(0))
    net = relu_mlp((3, 4, 4), 30, 1, seed=1)
    rank, p_last = jacobian_rank(net, x)
    with torch.no_grad():
        active = int((net(x[None].double()) > 0).sum())
    assert rank == min(active, 48) and abs(p_last - (1 - active / 30)) < 1e-12


def test_relu_width_quick(tmp_path):
    verdict, folder = run_experiment("relu-width", quick=True, out=tmp_path / "r", seed=0)
    for f in ("required_width.png", "required_width.csv", "rank_sweep.csv", "layers.csv", "metrics.json", "summary.md", "config.json"):
        assert (folder / f).is_file()
    rows = _rows(folder / "required_width.csv")
    m, p = int(rows[0]["input_size"]), float(rows[0]["p"])
    assert 0.3 < p < 0.7  # default init, zero-mean weights: about half the units are zeroed
    sweep = _rows(folder / "rank_sweep.csv")
    for r in rows:
        d = int(r["depth"])
        tried = [s for s in sweep if int(s["depth"]) == d]
        if r["required_width"]:
            w = int(r["required_width"])
            assert w >= m and all(int(s["rank"]) < m for s in tried if int(s["width"]) < w)
            assert any(int(s["width"]) == w and int(s["rank"]) == m for s in tried)
        assert abs(float(r["predicted_surviving_m_over_1mp_n"]) - m / (1 - p) ** d) < 1e-4 * m / (1 - p) ** d  # the CSV keeps 6 significant digits
    cfg = json.loads((folder / "config.json").read_text())["params"]
    need = [int(r["required_width"]) if r["required_width"] else math.inf for r in rows]
    measured = math.log(need[-1] / need[0])
    predicted = (int(rows[-1]["depth"]) - int(rows[0]["depth"])) * math.log(1 / (1 - p))
    assert verdict.held == (measured >= cfg["growth_fraction"] * predicted)
