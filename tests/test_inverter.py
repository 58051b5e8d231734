"""The inverter: convergence, batching independence, restarts, blur, schedules, stops, divergence."""

import pytest
import torch
import torchvision

from invert.encoders import build_encoder, encoder_from_module
from invert.errors import InvertError
from invert.inversion import (
    PRESETS,
    Blur,
    InversionConfig,
    InversionDiverged,
    Schedule,
    build_inverter,
    invert,
    line_search_lr,
)
from invert.inversion.loop import restart_stalled_lbfgs


@pytest.fixture(scope="module")
def small_target(photo32):
    return photo32[:1]


def test_inversion_drives_m_g_down_by_orders_of_magnitude(small_target):
    enc = build_encoder("cifar_resnet20", "conv2", seed=0)
    res = invert(enc, small_target, iterations=150, lr=0.05, record_every=10)
    first = res.history[0]["m_g"]
    assert res.m_g.item() < first / 100, (first, res.m_g.item())
    assert res.m_g.item() < res.m_s.item()
    assert res.images.shape == (1, 1, 3, 32, 32)
    assert 0 <= res.images.min() and res.images.max() <= 1  # clamped by default


def test_batch_solves_independent_problems(small_target, photo32):
    other = photo32[1:]
    enc = build_encoder("cifar_resnet20", "conv3", seed=0)
    cfg = InversionConfig(
        init="constant", init_mean=0.5, optimizer="gd", lr=0.01, lr_schedule="constant", iterations=20, size=32
    )
    alone = invert(enc, small_target, cfg)
    both = invert(enc, torch.cat([small_target, other]), cfg)
    torch.testing.assert_close(both.images[0], alone.images[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_chunked_passes_give_the_whole_batch_result(small_target, photo32, optimizer):
    other = photo32[1:]
    enc = build_encoder("cifar_resnet20", "conv2", seed=0, dtype=torch.float64)
    targets = torch.cat([small_target, other]).double()
    cfg = InversionConfig(
        optimizer=optimizer, lr=0.05 if optimizer == "adam" else 0.5, iterations=8, size=32, tv=1e-3, record_every=4
    )
    whole = invert(enc, targets, cfg, restarts=2, chunk=4)
    ones = invert(enc, targets, cfg, restarts=2, chunk=1)
    threes = invert(enc, targets, cfg, restarts=2, chunk=3)  # uneven chunks: 3 + 1
    for part in (ones, threes):
        torch.testing.assert_close(part.images, whole.images, rtol=0, atol=1e-10)
        torch.testing.assert_close(part.loss, whole.loss, rtol=1e-10, atol=0)
        assert [h["m_g"] for h in part.history] == pytest.approx([h["m_g"] for h in whole.history], rel=1e-10)


def test_automatic_chunks_keep_cpu_activations_cache_sized():
    from invert.inversion.inverter import CPU_CHUNK_BYTES, Inverter
    from invert.objectives import make_objective

    inv = Inverter(build_encoder("cifar_resnet20", "conv1"), make_objective("l1"))
    goal = torch.zeros(8, CPU_CHUNK_BYTES // 12 + 1)  # float32: three images' outputs do not fit, two do
    assert inv.chunk_size(8, goal) == 2
    assert inv.chunk_size(7, goal) == 2  # ceil(7 / ceil(7/2)) = 2: chunks 2,2,2,1
    assert inv.chunk_size(1, goal) == 1
    assert inv.chunk_size(8, torch.zeros(8, 10)) == 8  # small outputs: one pass
    assert inv.chunk_size(5, goal.double()) == 1  # twice the bytes per image
    inv.chunk = 3
    assert inv.chunk_size(8, torch.zeros(8, 10)) == 3  # an explicit chunk wins


def test_restarts_are_distinct_seeded_starts(small_target):
    enc = build_encoder("cifar_resnet20", "conv2", seed=0)
    a = invert(enc, small_target, iterations=5, restarts=3, seed=7)
    b = invert(enc, small_target, iterations=5, restarts=3, seed=7)
    assert a.images.shape == (1, 3, 3, 32, 32) and a.m_g.shape == (1, 3)
    assert torch.equal(a.images, b.images)
    assert not torch.allclose(a.images[0, 0], a.images[0, 1])
    assert {(h["target"], h["restart"]) for h in a.history} == {(0, 0), (0, 1), (0, 2)}


def test_blur_step_matches_torchvision_gaussian_blur():
    x = torch.rand(2, 3, 16, 16)
    blur = Blur(Schedule("linear", 2.4, 0.4), 3)
    ours = blur(x, 250, 500)
    ref = torchvision.transforms.functional.gaussian_blur(x, [3, 3], [1.4, 1.4])
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_lr_schedule_and_sigma_recorded(small_target):
    enc = build_encoder("cifar_resnet20", "conv2", seed=0)
    res = invert(
        enc,
        small_target,
        PRESETS["badger"].config(),
        size=32,
        iterations=10,
        record_every=1,
        lr_schedule="linear",
        lr_end=0.0,
    )
    rows = [h for h in res.history if h["iteration"] < 10]
    assert rows[0]["lr"] == pytest.approx(0.1) and rows[5]["lr"] == pytest.approx(0.05)
    assert rows[0]["sigma"] == pytest.approx(2.4) and rows[5]["sigma"] == pytest.approx(2.4 - 2.0 * 0.5)


def test_priors_enter_the_loss(small_target):
    enc = build_encoder("cifar_resnet20", "conv2", seed=0)
    cfg = InversionConfig(init="constant", init_mean=0.5, iterations=1, tv=1.0, alpha_norm=1.0, size=32)
    inv = build_inverter(enc, cfg)
    assert [p.name for p in inv.priors] == ["tv(β=2)", "alpha(α=6)"]
    res = inv.run(small_target, 1)
    x = res.images[:, 0]
    gap = enc(x) - enc(small_target)
    expected = (
        gap.abs().sum()
        + 4.0 * gap[0].numel() ** 0.5 * gap.pow(2).sum().sqrt()  # the default's L2 term, in L1's units (c = 4)
        + (x.abs() ** 6).sum()
        + ((x[..., 1:, :-1] - x[..., :-1, :-1]) ** 2 + (x[..., :-1, 1:] - x[..., :-1, :-1]) ** 2).sum()
    )
    assert res.loss.item() == pytest.approx(expected.item(), rel=1e-4)


def test_optimizers_all_reduce_loss(small_target):
    enc = build_encoder("cifar_resnet20", "conv3", seed=0)
    for opt, lr in (("gd", 0.002), ("sgd", 0.001), ("adam", 0.05), ("lbfgs", 0.5)):
        res = invert(enc, small_target, optimizer=opt, lr=lr, lr_schedule="constant", iterations=15, record_every=1)
        assert res.history[-1]["m_g"] < 0.7 * res.history[0]["m_g"], opt


@pytest.mark.parametrize("start", [0.5, 0.7])
def test_lbfgs_restarts_where_its_line_search_finds_no_step(photo32, start: float) -> None:
    """Untrained CIFAR ResNet-20 conv2, L1, 15 iterations: m_g ends at 0.15 / 0.18 of its first value from the
    starts 0.5 / 0.7; without the restart at 0.56 / 0.999 — from 0.7 torch's strong-Wolfe search returns t = 0 after
    the first step and the run never moves again (measured)."""
    enc = build_encoder("cifar_resnet20", "conv2", seed=0)
    res = invert(
        enc,
        photo32[:1],
        optimizer="lbfgs",
        lr=0.5,
        lr_schedule="constant",
        iterations=15,
        record_every=1,
        init_mean=start,
    )
    assert res.history[-1]["m_g"] < 0.7 * res.history[0]["m_g"]


def test_a_stalled_lbfgs_forgets_its_history_and_a_moving_one_keeps_it() -> None:
    x = torch.zeros(3, requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = ((x - 1) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)  # type: ignore[arg-type]
    state = opt.state[x]
    assert state["t"] != 0 and "old_dirs" in state
    restart_stalled_lbfgs(opt)
    assert "old_dirs" in state  # it moved: history kept
    state["t"] = 0
    restart_stalled_lbfgs(opt)
    assert len(opt.state[x]) == 0  # it stalled: the next step is a fresh, scaled first step


def test_stop_below_ms_stops_early(small_target):
    enc = build_encoder("cifar_resnet20", "conv2", seed=0)
    res = invert(enc, small_target, iterations=500, stop_below_ms=True)
    assert res.iterations < 500 and (res.below_ms_at >= 0).all()
    assert res.iterations == int(res.below_ms_at.max()) + 1


def _watch(average: float, stop_below_ms: bool = True):
    """An inversion problem through the identity: m_g = ‖x − a‖ with a = 0 (2×2 pixels, 1 channel), m_s = 0.5."""
    from invert.inversion.inverter import EmbeddingMatch
    from invert.objectives import make_objective

    a = torch.zeros(1, 1, 2, 2)
    m_s = (torch.tensor([0.5]), torch.tensor([0.0]))
    enc = torch.nn.Identity()
    return EmbeddingMatch(enc, make_objective("l1"), [], a, a, m_s, 1, stop_below_ms, average)


def _state(x: torch.Tensor, step: int):
    from invert.analysis.metrics import flat_l2
    from invert.inversion.loop import LoopState

    m_g = flat_l2(x, torch.zeros_like(x))
    return LoopState(x.clone(), 10, loss=m_g, measure=m_g, step=step, evaluated=x.clone())


def _observe(problem, step: int, x: torch.Tensor) -> bool:
    return problem.observe(_state(x, step))


def test_running_average_is_held_where_the_oscillating_iterates_never_get_below_ms():
    # iterates ±1 about a = 0: each has m_g = ‖±1‖ = 2 > m_s = 0.5; with β = 0.5 their average after the second is
    # 0.5·1 + 0.5·(−1) = 0 exactly (m_g 0), so the run stops at step 1 holding the zero image
    up, down = torch.ones(1, 1, 2, 2), -torch.ones(1, 1, 2, 2)
    avg = _watch(0.5)
    assert not _observe(avg, 0, up)
    assert _observe(avg, 1, down)
    assert int(avg.below_at[0]) == 1 and torch.equal(avg.held, torch.zeros(1, 1, 2, 2))
    plain = _watch(0.0)
    assert not _observe(plain, 0, up) and not _observe(plain, 1, down) and int(plain.below_at[0]) == -1


def test_running_average_weights_the_iterates_by_beta():
    # β = 0.75 over iterates 1, −1, 2: x̄ = 1 → 0.75·1 + 0.25·(−1) = 0.5 → 0.75·0.5 + 0.25·2 = 0.875 per pixel;
    # m_g = ‖x̄‖ over 4 pixels = 1.75, closer than the iterate's 4 (neither below m_s 0.5, so x̄ is the candidate)
    avg = _watch(0.75)
    for step, v in enumerate((1.0, -1.0)):
        avg.candidates(_state(torch.full((1, 1, 2, 2), v), step))
    images, m_g = avg.candidates(_state(torch.full((1, 1, 2, 2), 2.0), 2))
    assert torch.allclose(images, torch.full((1, 1, 2, 2), 0.875)) and m_g.item() == pytest.approx(1.75)


def test_an_iterate_below_ms_is_preferred_to_a_closer_average_and_plain_runs_never_average():
    # iterate 0.2 (m_g 0.4 < 0.5) after −0.3 (m_g 0.6): x̄ = 0.5·(−0.3) + 0.5·0.2 = −0.05 is closer (m_g 0.1), but
    # it lags towards the start, so the iterate below m_s is the one held
    avg = _watch(0.5)
    assert not _observe(avg, 0, torch.full((1, 1, 2, 2), -0.3))
    assert _observe(avg, 1, torch.full((1, 1, 2, 2), 0.2))
    assert torch.allclose(avg.held, torch.full((1, 1, 2, 2), 0.2))
    unwatched = _watch(0.5, stop_below_ms=False)  # the average costs a forward pass: only a stopping run pays it
    assert unwatched.average == 0.0


def test_the_default_watches_the_running_average_and_the_presets_do_not():
    assert InversionConfig().resolved(32).average == 0.6
    assert InversionConfig(optimizer="sgd").resolved(32).average == 0.0  # outside the searched L1 + Adam
    assert all(p.config().resolved().average == 0.0 for p in PRESETS.values() if p.name != "default")


def test_divergence_raises_with_partial_result(small_target):
    enc = build_encoder("cifar_resnet20", "conv2", seed=0)
    with pytest.raises(InversionDiverged, match="lower the learning rate") as err:
        invert(enc, small_target, optimizer="gd", lr=1e38, lr_schedule="constant", clamp=False, iterations=50)
    assert err.value.result is not None


def test_keyboard_interrupt_keeps_what_it_has(small_target):
    enc = build_encoder("cifar_resnet20", "conv2", seed=0)

    def stop(step, total, info):
        if step == 3:
            raise KeyboardInterrupt

    res = invert(enc, small_target, iterations=100, callback=stop)
    assert res.interrupted and res.iterations == 3 and res.images.shape == (1, 1, 3, 32, 32)


def test_line_search_picks_best_trial(small_target):
    enc = build_encoder("cifar_resnet20", "conv2", seed=0)
    cfg = PRESETS["badger"].config().updated(size=32)
    lr, rows = line_search_lr(enc, small_target, cfg, trials=4, trial_iterations=5)
    finite = [r for r in rows if not r["diverged"]]
    assert lr == min(finite, key=lambda r: r["m_g"])["lr"]
    assert all(1e-4 <= r["lr"] <= 1.0 for r in rows)


def test_float64_and_arbitrary_module():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3))
    enc = encoder_from_module(net, "1", dtype=torch.float64)
    target = torch.rand(1, 3, 12, 12, dtype=torch.float64)
    res = invert(enc, target, iterations=50)
    assert res.images.dtype == torch.float64 and res.m_g.item() < res.history[0]["m_g"]


def test_presets_reproduce_published_settings():
    b = PRESETS["badger"].config()
    assert (b.objective, b.objective_weight, b.optimizer, b.lr, b.lr_schedule) == ("l1", 0.15, "gd", 0.1, "constant")
    assert (b.blur, b.blur_end, b.blur_kernel, b.iterations, b.size, b.seed) == (2.4, 0.4, 3, 500, 299, 999)
    assert (b.init, b.init_mean, b.init_std, b.clamp) == ("normal", 0.7, 0.05, False)
    m = PRESETS["mahendran"].config()
    assert (m.objective, m.optimizer, m.momentum, m.lr_schedule, m.tv_beta, m.alpha) == (
        "normalized-l2",
        "sgd",
        0.9,
        "step",
        2.0,
        6.0,
    )
    assert m.tv > 0 and m.alpha_norm > 0


def test_presets_set_values_literally_and_overrides_keep_on_none():
    from invert.inversion.config import Preset

    base = InversionConfig(normalize=True, blur=1.0, blur_end=0.2)
    assert Preset("p", "", {"normalize": None, "blur_end": None}).config(base).normalize is None
    assert base.updated(normalize=None, blur_end=None, lr=0.5) == InversionConfig(
        normalize=True, blur=1.0, blur_end=0.2, lr=0.5
    )


@pytest.mark.parametrize(
    "bad",
    [
        dict(lr=-1.0),
        dict(iterations=0),
        dict(optimizer="rmsprop"),
        dict(blur=-1.0),
        dict(blur_kernel=4),
        dict(size=2),
        dict(momentum=1.5),
        dict(average=1.0),
        dict(average=-0.1),
    ],
)
def test_impossible_settings_refused(bad):
    with pytest.raises(InvertError):
        InversionConfig().updated(**bad)


def test_init_images_one_per_target_or_refused(small_target):
    from invert.inversion import Initializer

    gen = torch.Generator().manual_seed(0)
    starts = torch.stack([torch.zeros(3, 32, 32), torch.ones(3, 32, 32)])
    x = Initializer("image", image=starts)((4, 3, 32, 32), gen)  # 2 targets × 2 restarts
    assert torch.equal(x[:2], torch.zeros(2, 3, 32, 32)) and torch.equal(x[2:], torch.ones(2, 3, 32, 32))
    with pytest.raises(InvertError, match="cannot be spread"):
        Initializer("image", image=starts)((3, 3, 32, 32), gen)
