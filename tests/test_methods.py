"""Classic methods on the same engine: Gram objective, gradient ascent, deep dream, CAM/Grad-CAM,
deconvnet / guided backprop, FGSM/PGD — each against a hand-derived or second computation."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from invert.encoders import build_encoder, encoder_from_module
from invert.errors import InvertError
from invert.inversion import invert
from invert.io import load_image
from invert.methods import (
    GradCamModel,
    ascend,
    attack,
    cam,
    channel,
    deconvnet,
    deep_dream,
    grad_cam,
    layer_energy,
    neuron,
)
from invert.methods.attribution import backward_rule_copy
from invert.objectives import gram, gram_matrix


@pytest.fixture(scope="module")
def photos(photo32):
    """Four 32×32 natural images from the embedded photograph (two crops and their mirror images):
    no ../shared needed.
    """
    return torch.cat([photo32, photo32.flip(-1)])


@pytest.fixture(scope="module")
def cifar_images(shared):
    folder = shared / "data" / "cifar10" / "samples"
    paths = sorted(folder.glob("*.png"))[:4]
    labels = torch.tensor([int(p.stem.split("_")[-1]) for p in paths])
    return torch.stack([load_image(p) for p in paths]), labels


# ---------------------------------------------------------------------------------------------- Gram / style


def test_gram_matrix_and_objective_by_hand():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, C=2, 1, M=2)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 2
    torch.testing.assert_close(gram_matrix(f), expected)
    g = torch.zeros_like(f)
    assert gram(f, g).item() == pytest.approx(2.5**2 + 2 * 5.5**2 + 12.5**2)
    x = torch.randn(3, 5, 4, 4, dtype=torch.float64)
    ref = torch.einsum("bchw,bdhw->bcd", x, x) / 16
    torch.testing.assert_close(gram_matrix(x), ref)
    assert torch.allclose(gram_matrix(x.contiguous(memory_format=torch.channels_last)), ref)


def test_style_reconstruction_matches_gram_not_positions(photos):
    enc = build_encoder("cifar_resnet20", "conv2", weights="untrained")
    target = photos[:1]
    res = invert(enc, target, objective="gram", optimizer="lbfgs", lr=1.0, iterations=120, size=32, record_every=20)
    first, last = res.history[0]["loss"], float(res.loss)
    assert last < first / 50, (first, last)  # L-BFGS as Gatys et al.
    assert float(res.m_g) > float(res.m_s)  # matching statistics does not put features back in place


# ---------------------------------------------------------------------------------------------- gradient ascent


def _pointwise_encoder(weight: torch.Tensor) -> "Encoder":  # noqa: F821
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], 1, bias=False)
    conv.weight.data = weight.view(*weight.shape, 1, 1).clone()
    return encoder_from_module(nn.Sequential(conv), "0")


@pytest.mark.parametrize("rule", ["gd", "normalized"])
def test_one_ascent_step_follows_the_update_rule_by_hand(rule):
    w = torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 1.0]])
    enc = _pointwise_encoder(w)
    x0 = torch.rand(1, 3, 4, 4)
    res = ascend(enc, channel(0), start=x0, iterations=1, lr=0.1, optimizer=rule)
    grad = w[0].view(1, 3, 1, 1).expand(1, 3, 4, 4) / 16  # ∂ mean_p (W₀·x_p) / ∂x_{k,p} = W₀ₖ / M
    step = grad if rule == "gd" else grad / grad.abs().mean()
    torch.testing.assert_close(res.images, x0 + 0.1 * step)
    assert res.score.item() == pytest.approx(float((w[0].view(1, 3, 1, 1) * res.images).sum(1).mean()), rel=1e-5)


def test_activation_maximisation_raises_the_channel_and_scores_compose():
    enc = build_encoder("cifar_resnet20", "conv3", weights="untrained")
    res = ascend(enc, channel(5), batch=2, iterations=40, lr=0.05, jitter=2, seed=1)
    start = [h["score"] for h in res.history if h["iteration"] == 0]
    assert res.images.shape == (2, 3, 32, 32)
    assert all(res.score[i] > start[i] + 0.5 for i in range(2)), (start, res.score)
    with torch.no_grad():
        a = enc(res.images)
    combo = channel(5) + 2 * neuron(1, 0, 0) - layer_energy()
    expected = a[:, 5].mean((1, 2)) + 2 * a[:, 1, 0, 0] - 0.5 * a.pow(2).mean((1, 2, 3))
    torch.testing.assert_close(combo(a), expected)
    with pytest.raises(InvertError, match="channel 64 does not exist"):
        channel(64)(a)


def test_deep_dream_enhances_the_layer_and_keeps_the_image(photos):
    enc = build_encoder("cifar_resnet20", "conv3", weights="untrained")
    img = photos[:1]
    res = deep_dream(enc, img, octaves=2, octave_scale=1.5, iterations=10, lr=0.02, jitter=2)
    assert res.images.shape == img.shape and 0 <= res.images.min() and res.images.max() <= 1
    with torch.no_grad():
        before, after = layer_energy()(enc(img)).item(), layer_energy()(enc(res.images)).item()
    assert after > 1.5 * before, (before, after)
    assert (res.images - img).abs().mean() < 0.2  # the photograph is still there


# ---------------------------------------------------------------------------------------------- CAM / Grad-CAM


def test_grad_cam_equals_cam_on_a_global_average_pool_head(photos):
    """For logits = W·GAP(A): ∂y_c/∂A^k_ij = w_ck / Z, so Grad-CAM = ReLU(CAM) / Z (Selvaraju et al., §3.1) —
    any weights.
    """
    model = GradCamModel.build("cifar_resnet20", "conv4", "untrained")
    x = photos
    a, b = cam(model, x), grad_cam(model, x)
    assert a.maps.shape == (4, 32, 32) and a.raw.shape == (4, 8, 8)
    assert torch.equal(a.classes, b.classes)
    torch.testing.assert_close(b.raw, a.raw.clamp_min(0) / 64, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(b.maps, a.maps, rtol=1e-4, atol=1e-5)
    c = grad_cam(model, x, classes=3)
    assert (c.classes == 3).all()


def test_grad_cam_finds_the_evidence():
    conv = nn.Conv2d(3, 3, 1, bias=False)
    conv.weight.data = torch.eye(3).view(3, 3, 1, 1)
    head = nn.Linear(3, 2)
    head.weight.data = torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]])
    net = nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
    x = torch.zeros(1, 3, 16, 16)
    x[..., 2:6, 9:13] = 1.0
    res = grad_cam(GradCamModel(net, "1"), x, classes=0)
    inside, outside = res.maps[0, 3:5, 10:12], res.maps[0, 10:, :6]
    assert inside.min() > 0.9 and outside.max() < 1e-6


def test_cam_refuses_a_fully_connected_head():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    with pytest.raises(InvertError, match="global average"):
        cam(GradCamModel(net, "1"), torch.rand(1, 3, 8, 8))
    assert grad_cam(GradCamModel(net, "1"), torch.rand(1, 3, 8, 8)).maps.shape == (1, 8, 8)


# ---------------------------------------------------------------------------------------------- deconvnet


class _TwoConvs(nn.Module):
    """conv → ReLU → conv, with the ReLU written as a module, a function or a tensor method."""

    def __init__(self, relu: str):
        super().__init__()
        self.c1, self.act, self.c2 = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3, padding=1)
        self.relu = relu

    def forward(self, x):
        h = self.c1(x)
        h = {"module": self.act, "function": F.relu, "method": lambda t: t.relu()}[self.relu](h)
        return self.c2(h)


@pytest.mark.parametrize("relu", ["module", "function", "method"])
@pytest.mark.parametrize("rule", ["deconvnet", "guided"])
def test_deconvnet_and_guided_backprop_by_hand(rule, relu):
    torch.manual_seed(0)
    model = _TwoConvs(relu).double()
    net = [model.c1, None, model.c2]
    enc = encoder_from_module(model, "c2", dtype=torch.float64)
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    res = deconvnet(enc, x, channel=2, rule=rule, position="all")
    with torch.no_grad():
        pre = net[0](x)
        act = net[2](pre.clamp_min(0))
        seed = torch.zeros_like(act)
        seed[:, 2] = act[:, 2]
        g = F.conv_transpose2d(seed, net[2].weight, padding=1).clamp_min(0)
        if rule == "guided":
            g = g * (pre > 0)
        expected = F.conv_transpose2d(g, net[0].weight, padding=1)
    torch.testing.assert_close(res.raw, expected)
    assert (res.classes == 2).all() and res.maps.max() == pytest.approx(1.0)
    # the encoder itself keeps its ordinary ReLU gradient
    xx = x.clone().requires_grad_(True)
    enc(xx)[:, 2].sum().backward()
    assert not torch.allclose(xx.grad, expected)


def test_deconvnet_on_a_resnet_projects_the_strongest_activation(photos):
    enc = build_encoder("cifar_resnet20", "conv3", weights="untrained")
    res = deconvnet(enc, photos[:2])
    assert res.raw.shape == (2, 3, 32, 32) and torch.isfinite(res.raw).all() and res.raw.abs().sum() > 0
    with torch.no_grad():
        a = enc(photos[:2])
    assert torch.equal(res.classes, a.amax((2, 3)).argmax(1))
    with pytest.raises(InvertError, match="no ReLU"):
        backward_rule_copy(build_encoder("mlp-8x2-linear-in1x4x4", "fc2"), "deconvnet")


# ---------------------------------------------------------------------------------------------- adversarial


def test_fgsm_on_a_linear_classifier_by_hand():
    torch.manual_seed(0)
    lin = nn.Linear(12, 3)
    net = nn.Sequential(nn.Flatten(), lin)
    x = torch.rand(2, 3, 2, 2) * 0.5 + 0.25
    y = net(x).argmax(1)
    with torch.no_grad():
        p = net(x).softmax(1)
        grad = (p - F.one_hot(y, 3).float()) @ lin.weight  # ∇_x CE = Wᵀ(softmax − onehot)
    res = attack(net, x, method="fgsm", eps=0.1)
    torch.testing.assert_close(res.images, (x + 0.1 * grad.sign().view_as(x)).clamp(0, 1))
    assert torch.allclose(res.linf, torch.full((2,), 0.1), atol=1e-6)


def test_pgd_flips_a_trained_cifar_resnet_within_the_budget(cifar_images):
    clf = build_encoder("cifar_resnet20", "fc", weights="trained")
    x, labels = cifar_images
    eps = 4 / 255
    res = attack(clf, x, eps=eps, steps=10, labels=labels)
    assert float(res.linf.max()) <= eps + 1e-6 and 0 <= res.images.min() and res.images.max() <= 1
    assert res.success.float().mean() >= 0.75, res.summary()
    tgt = attack(clf, x, eps=8 / 255, steps=20, target=1)
    assert (tgt.adversarial_class == 1).float().mean() >= 0.75, tgt.summary()
    with pytest.raises(InvertError, match="logits"):
        attack(build_encoder("cifar_resnet20", "conv2"), x)
    with pytest.raises(InvertError, match="unknown attack"):
        attack(clf, x, method="cw")


# ---------------------------------------------------------------------------------------------- command line


def test_cli_visualize_attribute_attack_write_their_files(cli, tmp_path, photo):
    """The three commands' files on an untrained model and the embedded photograph (the trained-model attack is
    test_pgd_flips_a_trained_cifar_resnet_within_the_budget)."""
    import json

    img = photo
    common = ["--model", "cifar_resnet20", "--weights", "untrained", "--size", "32"]
    r = cli(
        "visualize",
        *common,
        "--layer",
        "conv3",
        "--channel",
        "3",
        "--channel",
        "7",
        "--iterations",
        "15",
        "--quiet",
        "--out",
        tmp_path / "v",
    )
    assert r.code == 0, r.err
    assert {"visualization_0.png", "visualization_1.png", "figure.png", "metrics.json", "config.json"} <= {
        p.name for p in (tmp_path / "v").iterdir()
    }
    scores = json.loads((tmp_path / "v" / "metrics.json").read_text())["scores"]
    assert [s["score"] for s in scores] == ["channel 3", "channel 7"] and all(s["final"] > s["start"] for s in scores)

    r = cli("attribute", *common, "--layer", "conv4", "--method", "grad-cam", "--image", img, "--out", tmp_path / "a")
    assert r.code == 0, r.err
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert m["explained"] == "class" and len(m["indices"]) == 1 and (tmp_path / "a" / "grad-cam_0.png").exists()

    r = cli("attack", *common, "--image", img, "--eps", "0.03", "--out", tmp_path / "k")
    assert r.code == 0, r.err
    m = json.loads((tmp_path / "k" / "metrics.json").read_text())
    assert m["linf"][0] <= 0.03 + 1e-6 and m["success"] == [m["adversarial_class"][0] != m["clean_class"][0]]
    assert m["success"] == [True]  # measured: the untrained net (seed 0) calls the photo 'deer', the attack 'truck'
    cfg = json.loads((tmp_path / "k" / "config.json").read_text())
    assert cfg["settings"]["eps"] == 0.03 and "torch" in cfg["environment"]

    refused = cli("attack", *common, "--image", img, "--out", tmp_path / "k")
    assert refused.code == 2 and "--overwrite" in refused.err


@pytest.mark.parametrize(
    "args,message",
    [
        (["attribute", "--model", "cifar_resnet20", "--size", "32", "--method", "lime"], "unknown attribution method"),
        (
            ["attribute", "--model", "cifar_resnet20", "--size", "32", "--method", "cam", "--layer", "conv2"],
            "CAM needs",
        ),
        (
            [
                "visualize",
                "--model",
                "cifar_resnet20",
                "--size",
                "32",
                "--layer",
                "conv2",
                "--channel",
                "99",
                "--iterations",
                "2",
                "--quiet",
            ],
            "channel 99 does not exist",
        ),
        (["attack", "--model", "cifar_resnet20", "--size", "32", "--method", "cw"], "unknown attack"),
        (["attack", "--model", "cifar_resnet20", "--size", "32", "--image", "/nonexistent.png"], "nonexistent.png"),
    ],
)
def test_cli_methods_refuse_bad_input_in_one_line(cli, tmp_path, args, message):
    r = cli(*args, "--out", tmp_path / "x")
    assert r.code == 2 and message in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1
