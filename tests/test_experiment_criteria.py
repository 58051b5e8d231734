"""Declared criteria: every experiment states its claim, measure, rule, thresholds and what makes it INCONCLUSIVE at
its registration; `invert experiment show NAME` prints them with the quick and full settings; the shared judges
(paired differences, the line search's ε range) decide by those rules."""

from __future__ import annotations

import math

import pytest
import torch

from invert.experiments import list_experiments
from invert.experiments._matched import lr_range, paired_judgement, spread_verdict
from invert.experiments.registry import Criterion

NAMES = [e.name for e in list_experiments()]


def test_every_experiment_declares_its_criterion_and_settings():
    assert len(NAMES) >= 19
    for e in list_experiments():
        c = e.criterion
        assert isinstance(c, Criterion), e.name
        assert c.claim and c.measure and c.rule and c.inconclusive, e.name
        assert e.full is not None and e.quick is not None, e.name
        assert e.settings(True) != e.settings(False), f"{e.name}: the quick setting changes nothing"
        for key, value in c.thresholds.items():  # every named threshold appears in the rule or the INCONCLUSIVE text
            assert key in c.rule + c.inconclusive + c.measure, (e.name, key)
            assert isinstance(value, (int, float)), (e.name, key)


@pytest.mark.parametrize("name", NAMES)
def test_experiment_show_prints_claim_source_criterion_and_both_settings(cli, name):
    r = cli("experiment", "show", name)
    assert r.code == 0, r.err
    e = next(e for e in list_experiments() if e.name == name)
    out = " ".join(r.out.split())
    assert out.startswith(f"{name}: ")
    for label in ("source:", "claim:", "criterion:", "measure:", "rule:", "INCONCLUSIVE when:"):
        assert label in out, (name, label)
    assert " ".join(e.criterion.claim.split()) in out and e.issue_source in out
    quick = out.split("quick settings: ", 1)[1].split(" full settings: ")
    assert len(quick) == 2 and quick[0] and quick[1]
    assert quick[0] != quick[1]


def test_experiment_show_refuses_an_unknown_name(cli):
    r = cli("experiment", "show", "nope")
    assert r.code != 0 and "unknown experiment 'nope'" in r.err + r.out


def test_paired_judgement_three_ways_with_reasons():
    assert paired_judgement([0.3, 0.32, 0.29, 0.31])[0] is True
    assert paired_judgement([-0.3, -0.32, -0.29, -0.31])[0] is False
    held, mean, spread, why = paired_judgement([0.1, -0.05, 0.2, -0.1])  # mean 0.0375 < std: not significant
    assert held is None and "not significant" in why and mean == pytest.approx(0.0375)
    held, _, _, why = paired_judgement([0.3, 0.31, 0.29], min_pairs=6)  # the quick noise-trained case: 3 pairs
    assert held is None and why == "too few converged pairs (3 < 6)"
    assert paired_judgement([0.5])[0] is None
    # the old rule scored a non-significant difference NOT REPRODUCED; now it is INCONCLUSIVE
    assert spread_verdict([0.01, -0.02, 0.03])[0] is None


def test_line_search_range_follows_the_layers_activation_scale():
    class Scaled(torch.nn.Module):
        def __init__(self, k: float):
            super().__init__()
            self.k = k

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.k * x

    x = torch.full((1, 3, 4, 4), 0.5)
    low, high = lr_range(Scaled(1.0), x)
    assert (low, high) == pytest.approx((2e-3, 2.0))  # [10⁻³, 1] / mean|O(a)| = / 0.5
    low, high = lr_range(Scaled(2e7), x)  # untrained ResNet-152 conv5 scale (~1e7)
    assert high == pytest.approx(1e-7) and low == pytest.approx(1e-10)
    assert math.log10(high / low) == pytest.approx(3.0)
    assert lr_range(Scaled(0.0), x) == pytest.approx((1e-3, 1.0))  # a dead layer: around ε = 1
