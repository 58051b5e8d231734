"""The default's size-chosen settings (issue 10) and the two engine parts they use: a relative, annealed TV prior.

The rule is checked against hand values; the relative TV weight against absolute weights computed by hand per
target (an independent computation of ‖O(a)‖₁ / TV(a)); the annealed weight against its linear formula.
"""

from __future__ import annotations

import pytest
import torch

from invert.encoders import build_encoder
from invert.inversion import PRESETS, InversionConfig, invert
from invert.inversion.inverter import EmbeddingMatch
from invert.io import default_image_path, load_image
from invert.objectives import make_objective
from invert.priors import total_variation, tv_prior


@pytest.mark.parametrize(
    "size, sigma, lr",
    [
        (32, 0.5, 0.1),
        (64, 0.5, 0.1),
        (112, 0.5, 0.1),
        (128, 128 / 224, 0.2 * 128 / 224),
        (224, 1.0, 0.2),
        (299, 1.0, 0.2),
    ],
)
def test_the_default_chooses_blur_and_lr_from_the_image_size(size: int, sigma: float, lr: float) -> None:
    c = InversionConfig().resolved(size)
    assert (c.blur, c.blur_end, c.lr, c.lr_end, c.lr_schedule) == (
        pytest.approx(sigma),
        0.0,
        pytest.approx(lr),
        0.0,
        "cosine",
    )
    assert (c.tv, c.tv_end, c.tv_scale, c.tv_beta, c.objective, c.optimizer) == (0.03, 0.0, "target", 2.0, "l1", "adam")
    assert InversionConfig(size=size).resolved() == c.updated(size=size)  # the config's own size by default
    assert c.resolved(32) == c  # concrete settings stay what they are


def test_explicit_settings_win_and_other_procedures_get_the_plain_settings() -> None:
    c = InversionConfig(tv=1.0, blur=2.0, lr=0.3).resolved(32)
    assert (c.tv, c.tv_end, c.tv_scale, c.blur, c.blur_end, c.lr) == (1.0, None, "absolute", 2.0, None, 0.3)
    assert InversionConfig(blur_end=0.2).resolved(224).blur == 1.0  # an end alone keeps the chosen start
    for other in ({"optimizer": "sgd"}, {"optimizer": "gd"}, {"objective": "cosine"}, {"objective": "l2"}):
        c = InversionConfig(**other).resolved(224)
        assert (c.lr, c.blur, c.tv) == (0.05, 0.0, 0.0), other


def test_presets_resolve_to_their_published_settings() -> None:
    badger = PRESETS["badger"].config().resolved()
    assert (badger.objective_weight, badger.optimizer, badger.lr, badger.lr_schedule) == (0.15, "gd", 0.1, "constant")
    assert (badger.blur, badger.blur_end, badger.tv, badger.clamp, badger.size, badger.seed) == (
        2.4,
        0.4,
        0.0,
        False,
        299,
        999,
    )
    mahendran = PRESETS["mahendran"].config().resolved()
    assert (mahendran.objective, mahendran.optimizer, mahendran.lr, mahendran.lr_every) == (
        "normalized-l2",
        "sgd",
        1000.0,
        100,
    )
    assert (mahendran.tv, mahendran.tv_end, mahendran.tv_scale, mahendran.blur, mahendran.alpha_norm) == (
        1e-5,
        None,
        "absolute",
        0.0,
        1e-8,
    )


def test_an_unknown_tv_scale_or_negative_end_is_refused() -> None:
    from invert.errors import InvertError

    with pytest.raises(InvertError, match="TV scale"):
        InversionConfig(tv_scale="pixels")
    with pytest.raises(InvertError, match="final TV weight"):
        InversionConfig(tv_end=-1.0)


def test_annealed_prior_weight_is_linear_in_the_run() -> None:
    p = tv_prior(3.0, end=0.5)
    assert [p.weight_at(f) for f in (0.0, 0.25, 1.0)] == pytest.approx([3.0, 2.375, 0.5])
    assert tv_prior(3.0).weight_at(0.9) == 3.0


@pytest.fixture(scope="module")
def two_targets() -> torch.Tensor:
    photo = load_image(default_image_path(), 32).double()
    return torch.stack([photo, photo.flip(-1).roll(7, -2) * 0.5 + 0.25])  # a smoother, dimmer second target


def test_relative_tv_is_absolute_tv_at_each_targets_own_scale(two_targets: torch.Tensor) -> None:
    enc = build_encoder("resnet18", "conv2", seed=0, dtype=torch.float64)
    cfg = InversionConfig(size=32, iterations=6, record_every=6, init="constant", init_mean=0.5, lr=0.1, blur=0.0)
    rel = invert(enc, two_targets, cfg.updated(tv=0.03, tv_scale="target", tv_end=0.0))
    with torch.no_grad():
        l1 = enc(two_targets).abs().flatten(1).sum(1)
    tv = torch.stack(
        [((t[:, 1:, :-1] - t[:, :-1, :-1]) ** 2 + (t[:, :-1, 1:] - t[:, :-1, :-1]) ** 2).sum() for t in two_targets]
    )
    assert (l1 / tv).max() > 1.5 * (l1 / tv).min()  # the two targets really get different weights
    for i in range(2):
        alone = invert(enc, two_targets[i : i + 1], cfg.updated(tv=float(0.03 * l1[i] / tv[i]), tv_end=0.0))
        torch.testing.assert_close(rel.images[i], alone.images[0], rtol=0, atol=1e-10)
    # and the weight matters: without TV the images differ
    plain = invert(enc, two_targets, cfg.updated(tv=0.0))
    assert (plain.images - rel.images).abs().max() > 1e-4


def test_the_inversion_loss_reads_the_annealed_relative_weight(two_targets: torch.Tensor) -> None:
    enc = build_encoder("resnet18", "conv1", seed=0, dtype=torch.float64)
    with torch.no_grad():
        goal = enc(two_targets)
    prior = tv_prior(0.03, end=0.0, relative=True)
    m_s = (torch.ones(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    problem = EmbeddingMatch(enc, make_objective("l1"), [prior], two_targets, goal, m_s, restarts=1)
    x = torch.full_like(two_targets, 0.4) + 0.1 * two_targets
    problem.prepare(30, 120)  # a quarter of the way: weight 0.03 · 0.75
    loss, _ = problem.evaluate(x, slice(0, 2))
    with torch.no_grad():
        l1_target = goal.abs().flatten(1).sum(1)
        by_hand = (enc(x) - goal).abs().flatten(1).sum(1) + 0.0225 * l1_target / total_variation(
            two_targets
        ) * total_variation(x)
    torch.testing.assert_close(loss.detach(), by_hand, rtol=1e-10, atol=0)
