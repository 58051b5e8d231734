"""The shared optimisation loop: inversion and ascent on one engine, stopping bookkeeping, divergence,
chunking, defaults from InversionConfig, activation scale. Uses the embedded photograph only."""

import json
import math
import warnings

import pytest
import torch
from torch import nn

from invert.analysis.metrics import flat_l2, shifted_distance
from invert.encoders import build_encoder, encoder_from_module
from invert.inversion import (
    PRESETS,
    Blur,
    Clamp,
    Initializer,
    InversionConfig,
    InversionDiverged,
    Inverter,
    Schedule,
    build_inverter,
    invert,
)
from invert.inversion import loop as loop_module
from invert.inversion.inverter import ActivationScaleWarning
from invert.io import default_image_path, load_image
from invert.methods import AscentResult, ascend, channel, deep_dream, layer_energy
from invert.objectives import Objective, make_objective


@pytest.fixture(scope="module")
def photo32():
    return load_image(default_image_path(), size=32)[None]


class Scaled(nn.Module):
    """A small conv net whose output is multiplied by ``c`` (to test scale handling)."""

    def __init__(self, c: float):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3)
        self.c = c

    def forward(self, x):
        return torch.relu(self.conv(x)) * self.c


def _pointwise(weight: torch.Tensor, dtype=torch.float32):
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], 1, bias=False)
    conv.weight.data = weight.view(*weight.shape, 1, 1).clone()
    return encoder_from_module(nn.Sequential(conv), "0", dtype=dtype)


# ---------------------------------------------------------------------------------------------- one loop


def test_inversion_and_ascent_run_on_the_same_loop(photo32, monkeypatch):
    calls = []
    real = loop_module.Descent._iterate

    def counting(self, problem, *args, **kwargs):
        calls.append(problem.name)
        return real(self, problem, *args, **kwargs)

    monkeypatch.setattr(loop_module.Descent, "_iterate", counting)
    enc = build_encoder("cifar_resnet20", "conv1", seed=0)
    invert(enc, photo32, iterations=3, size=32)
    ascend(enc, channel(0), size=32, iterations=4)
    deep_dream(enc, photo32, octaves=2, iterations=2)
    assert calls == ["inversion"] * 3 + ["ascent"] * 4 + ["ascent"] * 4


def test_ascent_lr_schedule_applies_step_by_step():
    """gd on a linear score: x_T = x_0 + Σ_k lr_k ∇score, with lr_k from the schedule (worked out by hand)."""
    w = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    enc = _pointwise(w, torch.float64)
    x0 = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    linear = Schedule("linear", 0.1, 0.0)
    res = ascend(enc, channel(0), start=x0, iterations=5, lr=linear, optimizer="gd", record_every=1)
    lrs = [0.1 * (1 - k / 5) for k in range(5)]  # 0.1, 0.08, …, 0.02
    assert [h["lr"] for h in res.history[:5]] == pytest.approx(lrs)
    grad = w[0].view(1, 3, 1, 1).expand(1, 3, 4, 4) / 16
    torch.testing.assert_close(res.images, x0 + sum(lrs) * grad, rtol=1e-12, atol=1e-12)
    assert res.iterations == 5 and math.isnan(res.history[-1]["lr"])


def test_ascent_divergence_raises_with_partial_result():
    enc = _pointwise(torch.tensor([[1.0, 1.0, 1.0]]))
    message = r"ascent diverged at iteration 1 \(loss is -inf\).*lower the learning rate"
    with pytest.raises(InversionDiverged, match=message) as err:
        ascend(enc, layer_energy(), start=torch.full((2, 3, 4, 4), 0.5), iterations=20, lr=1e30, optimizer="gd")
    res = err.value.result
    assert isinstance(res, AscentResult) and res.images.shape == (2, 3, 4, 4) and res.iterations == 1


def test_ascent_takes_every_update_rule_and_chunks_like_the_inverter(photo32):
    enc = build_encoder("cifar_resnet20", "conv1", seed=0, dtype=torch.float64)
    for rule, lr in (("sgd", 0.05), ("lbfgs", 0.1), ("adam", 0.05)):
        res = ascend(enc, channel(3), batch=2, size=16, iterations=4, lr=lr, optimizer=rule, record_every=1)
        start = [h["score"] for h in res.history if h["iteration"] == 0]
        assert all(res.score[i] > start[i] for i in range(2)), rule
    # images are independent problems: the same jittered ascent in one pass or one image per pass
    whole = ascend(enc, layer_energy(), batch=3, size=16, iterations=4, jitter=2, seed=3)
    ones = ascend(enc, layer_energy(), batch=3, size=16, iterations=4, jitter=2, seed=3, chunk=1)
    torch.testing.assert_close(ones.images, whole.images, rtol=0, atol=1e-10)


def test_ascent_ctrl_c_keeps_what_it_has():
    enc = _pointwise(torch.tensor([[1.0, 1.0, 1.0]]))

    def stop(step, total, info):
        assert set(info) == {"loss", "score", "lr"}
        if step == 2:
            raise KeyboardInterrupt

    res = ascend(enc, channel(0), start=torch.rand(1, 3, 4, 4), iterations=50, lr=0.1, optimizer="gd", callback=stop)
    assert res.interrupted and res.iterations == 2 and res.images.shape == (1, 3, 4, 4)


def test_inversion_accepts_the_normalized_rule(photo32):
    enc = build_encoder("cifar_resnet20", "conv1", seed=0)
    res = invert(
        enc, photo32, optimizer="normalized", lr=0.02, lr_schedule="constant", iterations=10, size=32, record_every=1
    )
    assert res.m_g.item() < 0.5 * res.history[0]["m_g"]


# ---------------------------------------------------------------------------------------------- defaults


def test_parts_take_their_defaults_from_the_config(photo32):
    c = InversionConfig()
    inv = Inverter(build_encoder("cifar_resnet20", "conv1", seed=0))
    r = c.resolved()  # the size-chosen parts for the config's 224 px until a run sees its images
    assert inv.lr == Schedule(r.lr_schedule, r.lr, r.lr_end, r.lr_gamma, r.lr_every) == Schedule("cosine", 0.2, 0.0)
    for name in ("optimizer", "momentum", "ms_sigma", "ms_draws", "chunk"):
        assert getattr(inv, name) == getattr(c, name), name
    assert inv.objective.name == "l1" and [(p.weight, p.end, p.relative) for p in inv.priors] == [(0.03, 0.0, True)]
    assert inv.average == 0.6
    assert [type(t) for t in inv.steps] == [Blur, Clamp] and inv.steps[0].sigma == Schedule("linear", 1.0, 0.0)
    init = Initializer()
    assert (init.kind, init.mean, init.std) == (c.init, c.init_mean, c.init_std)
    enc = build_encoder("cifar_resnet20", "conv1", seed=0)
    default = shifted_distance(enc, photo32, generator=torch.Generator().manual_seed(1))
    explicit = shifted_distance(enc, photo32, c.ms_sigma, c.ms_draws, torch.Generator().manual_seed(1))
    torch.testing.assert_close(default, explicit, rtol=0, atol=0)
    # the composed default runs exactly what invert() with the default config runs
    a = inv.run(photo32, 4, seed=0)
    b = invert(enc, photo32, iterations=4)  # config size 224, but the images are 32 px: the parts follow the images
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=1e-6)  # a constant lr instead of cosine: 0.08
    assert inv.lr == Schedule("cosine", 0.1, 0.0) and inv.steps[0].sigma == Schedule("linear", 0.5, 0.0)
    assert inv.objective.name == "l1 + 4·l2-in-l1-units"  # 32 px: the small-image regime's L2 term


# ---------------------------------------------------------------------------------------------- stopping (issue 13)


BADGER_SMALL = dict(size=32, iterations=150, restarts=2, lr=0.1, ms_sigma=0.1, record_every=1)


def test_below_ms_at_counts_the_first_evaluated_image_below_ms(photo32):
    enc = build_encoder("cifar_resnet20", "conv1", seed=0)
    res = invert(enc, photo32, PRESETS["badger"].config(), **BADGER_SMALL)
    ms = res.m_s.item()
    assert (res.below_ms_at >= 0).all()
    for j, at in enumerate(res.below_ms_at[0].tolist()):
        mg = [h["m_g"] for h in res.history if h["restart"] == j and h["iteration"] < res.iterations]
        assert mg[at] < ms and min(mg[:at]) >= ms, (j, at)
        assert res.m_g[0, j] < ms  # this run kept descending: its last image is below too


def test_stop_below_ms_returns_the_image_that_got_there(photo32):
    """Badger preset with blur: each returned image is the evaluated one first below m_s (the dimmed target
    gets there in ~12 iterations and waits for the others, ~105), so its m_g, recomputed here, is below m_s
    and equals the one recorded at that iteration."""
    enc = build_encoder("cifar_resnet20", "conv1", seed=0)
    targets = torch.cat([photo32, 0.6 * photo32, photo32.flip(-1)])
    res = invert(enc, targets, PRESETS["badger"].config(), stop_below_ms=True, **BADGER_SMALL)
    at = res.below_ms_at
    assert (at >= 0).all() and at.min() < at.max() - 10  # some images waited for others
    assert res.iterations == int(at.max()) + 1
    with torch.no_grad():
        mg = flat_l2(enc(res.images.flatten(0, 1)), enc(targets).repeat_interleave(2, 0)).view(3, 2)
    assert (mg < res.m_s[:, None]).all(), (mg, res.m_s)
    by_key = {(h["iteration"], h["target"], h["restart"]): h["m_g"] for h in res.history}
    recorded = torch.tensor([[by_key[a, i, j] for j, a in enumerate(row)] for i, row in enumerate(at.tolist())])
    torch.testing.assert_close(mg, recorded, rtol=1e-5, atol=0)
    torch.testing.assert_close(res.m_g, recorded, rtol=1e-5, atol=0)


def test_ctrl_c_mid_iteration_still_returns_the_held_image(photo32):
    """Ctrl-C after an update, before the bookkeeping: an image that had got below m_s is still returned as it was."""
    enc = build_encoder("cifar_resnet20", "conv1", seed=0)
    targets = torch.cat([photo32, 0.6 * photo32])  # the dimmed one gets below m_s in ~12 iterations, the other ~103
    inv = build_inverter(enc, PRESETS["badger"].config().updated(size=32, lr=0.1, ms_sigma=0.1))

    def interrupt(x, step, total):
        if step == 40:
            raise KeyboardInterrupt
        return x

    inv.steps.append(interrupt)  # after the blur has moved every image
    res = inv.run(targets, 150, stop_below_ms=True, record_every=1)
    at = res.below_ms_at[:, 0].tolist()
    assert res.interrupted and res.iterations == 40 and at[0] == -1 and 0 <= at[1] < 40
    recorded = next(h["m_g"] for h in res.history if (h["iteration"], h["target"]) == (at[1], 1))
    assert res.m_g[1, 0].item() == pytest.approx(recorded, rel=1e-5) and recorded < res.m_s[1].item()


# ---------------------------------------------------------------------------------------------- divergence (issue 13)


def test_non_finite_m_g_is_divergence_even_with_a_finite_loss(photo32):
    """An embedding that overflows float32 (m_g = inf) under a bounded loss must not end as a complete run."""
    enc = encoder_from_module(nn.Sequential(Scaled(1e30)), "0")
    bounded = Objective(lambda p, t: (p.clamp(-1, 1) - t.clamp(-1, 1)).abs().sum((1, 2, 3)), "bounded")
    inv = Inverter(enc, bounded, lr=Schedule("constant", 0.01))
    with (
        pytest.raises(InversionDiverged, match="m_g is inf") as err,
        pytest.warns(ActivationScaleWarning, match="RMS inf"),
    ):
        inv.run(photo32, 5)
    assert err.value.result is not None and not torch.isfinite(err.value.result.m_g).all()


# ---------------------------------------------------------------------------------------------- chunking (issue 13)


def test_float32_chunking_is_the_same_up_to_float_rounding(photo32):
    """One image per pass vs the whole batch: the same problems, so in float64 the same result to 1e-10; in float32
    batched kernels round differently, and 10 Adam steps later m_g agrees to 1e-3 relative (measured 1e-7 on one
    machine and 4.5e-4 on another with the same torch, pixels up to 0.021: Adam magnifies rounding where a
    gradient is near zero)."""
    targets = torch.cat([photo32, photo32.flip(-1)])
    for dtype, rtol, atol in ((torch.float64, 1e-10, 1e-10), (torch.float32, 1e-3, 5e-2)):
        enc = build_encoder("cifar_resnet20", "conv2", seed=0).to(dtype)
        x = targets.to(dtype)
        ones = invert(enc, x, iterations=10, size=32, restarts=2, chunk=1)
        whole = invert(enc, x, iterations=10, size=32, restarts=2, chunk=0)
        torch.testing.assert_close(ones.m_g, whole.m_g, rtol=rtol, atol=0)
        # float32: a few pixels whose gradient sits near 0 take other Adam steps (measured max 0.021, 0.2 % of pixels)
        torch.testing.assert_close(ones.images, whole.images, rtol=0, atol=atol)
        assert float((ones.images - whole.images).abs().mean()) < atol / 50


# ---------------------------------------------------------------------------------------------- scale (issue 13)


@pytest.mark.parametrize("c", [1e-8, 1e8, 1e-20])
def test_normalized_l2_is_scale_free(c):
    """Encoder scaled by c: the same normalised loss and the same gradient in float64, where a fixed ε would not."""
    torch.manual_seed(1)
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    target = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    obj = make_objective("normalized-l2")
    losses, grads = [], []
    for scale in (1.0, c):
        net = Scaled(scale).double()
        loss = obj(net(x), net(target).detach())
        (g,) = torch.autograd.grad(loss.sum(), x)
        losses.append(loss.detach())
        grads.append(g)
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-10, atol=0)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-8, atol=1e-14)


def test_scale_is_warned_and_recorded(photo32):
    tiny = encoder_from_module(nn.Sequential(Scaled(1e-8)), "0")
    with pytest.warns(ActivationScaleWarning, match="RMS .* outside"):
        res = invert(tiny, photo32, iterations=2, size=32)
    with torch.no_grad():
        norm = Scaled(1e-8).double()(photo32.double()).norm().item()  # ‖O(a)‖ in float64, unfolded
    s = res.summary()
    assert s["target_norm"][0] == pytest.approx(norm, rel=1e-5)
    assert s["relative_m_g"][0] == pytest.approx(s["m_g"][0] / norm, rel=1e-5)
    assert s["runs"][0]["target_norm"] == pytest.approx(norm, rel=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ActivationScaleWarning)
        invert(encoder_from_module(nn.Sequential(Scaled(1.0)), "0"), photo32, iterations=2, size=32)


def test_visualize_ctrl_c_writes_partial_results_and_exits_130(cli, tmp_path, monkeypatch):
    """Ascent returns what it has on Ctrl-C; the command writes it with status interrupted and exits 130."""
    from invert.methods.ascent import ScoreAscent

    def prepare(self, step, total):
        if step == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(ScoreAscent, "prepare", prepare)
    out = tmp_path / "vis"
    res = cli(
        "visualize",
        "--model",
        "cifar_resnet20",
        "--layer",
        "conv1",
        "--size",
        "16",
        "--iterations",
        "10",
        "--channel",
        "0",
        "--channel",
        "1",
        "--out",
        out,
        "--quiet",
    )
    assert res.code == 130, (res.out, res.err)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and len(metrics["scores"]) == 1  # no further score was started
    assert (out / "visualization_0.png").is_file() and not (out / "visualization_1.png").exists()
