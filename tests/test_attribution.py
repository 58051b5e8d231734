"""Grad-CAM / CAM beyond ResNets: one-pass model on encoder_from_module, transformer tokens, default layers,
refusals that name the fix, colour bars, class names, and the commands that use them."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from invert.analysis.plots import attribution_figure, distance_figure, span_scale
from invert.classes import CIFAR10_CLASSES, class_names, imagenet_classes, label
from invert.errors import InvertError
from invert.methods import GradCamModel, cam, grad_cam
from invert.methods.attribution import default_layer, token_grid


def test_grad_cam_model_gives_the_hooked_activation_and_logits_in_one_pass():
    torch.manual_seed(0)
    net = torchvision.models.resnet18().eval()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    seen = {}
    net.layer2.register_forward_hook(lambda m, i, o: seen.setdefault("act", o))
    with torch.no_grad():
        logits = net(x)
    act, got = GradCamModel(net, "layer2")(x)
    torch.testing.assert_close(act, seen["act"], rtol=0, atol=0)
    torch.testing.assert_close(got, logits, rtol=0, atol=0)


def test_token_grid_drops_the_class_token_and_lays_out_patches():
    tokens = torch.arange(5 * 2, dtype=torch.float32).reshape(1, 5, 2)  # class token + 2×2 patches, 2 channels
    grid = token_grid(tokens, prefix=1)
    assert grid.shape == (1, 2, 2, 2)
    assert grid[0, 0].tolist() == [[2.0, 4.0], [6.0, 8.0]] and grid[0, 1].tolist() == [[3.0, 5.0], [7.0, 9.0]]
    assert token_grid(torch.zeros(1, 4, 3), prefix=1).shape == (1, 3, 2, 2)  # no class token: all four are patches
    assert token_grid(torch.zeros(1, 7, 3)) is None


def _tiny_vit() -> nn.Module:
    torch.manual_seed(0)
    vit = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=5
    ).eval()
    nn.init.normal_(vit.heads.head.weight)  # torchvision initialises the head to zeros
    return vit


def test_grad_cam_on_transformer_tokens_matches_a_hand_computation():
    vit = _tiny_vit()
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    res = grad_cam(GradCamModel(vit, "encoder.layers.encoder_layer_0"), x, classes=1)
    # by hand: hook the block's tokens, differentiate the class-1 logit, average the patch gradients per channel
    store = {}
    vit.encoder.layers.encoder_layer_0.register_forward_hook(lambda m, i, o: store.setdefault("t", o))
    xg = x.clone().requires_grad_(True)
    logit = vit(xg)[0, 1]
    (g,) = torch.autograd.grad(logit, store["t"])
    tokens, grads = store["t"][0, 1:].detach(), g[0, 1:]  # (16, C) patches, class token dropped
    alpha = grads.mean(0)
    want = torch.relu(tokens @ alpha).reshape(4, 4)
    torch.testing.assert_close(res.raw[0], want, rtol=1e-4, atol=1e-6)
    assert res.maps.shape == (1, 32, 32)


def test_all_zero_logits_warn_instead_of_a_silent_blank_map():
    torch.manual_seed(0)
    vit = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32
    ).eval()  # untrained: zero head
    with pytest.warns(UserWarning, match="every logit .* is zero"):
        grad_cam(GradCamModel(vit, "encoder.layers.encoder_layer_0"), torch.rand(1, 3, 32, 32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a trained-looking head draws no warning
        grad_cam(GradCamModel(_tiny_vit(), "encoder.layers.encoder_layer_0"), torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize(
    "model,layer",
    [
        ("resnet50", "conv5"),
        ("cifar_resnet20", "conv4"),
        ("vgg16", "avgpool"),
        ("vit_b_16", "encoder.layers.encoder_layer_10"),
    ],
)
def test_default_layer_is_the_last_with_spatial_maps(model, layer):
    assert default_layer(model) == layer


def test_default_layer_of_a_vit_is_the_input_of_its_last_block():
    """The last block's patch tokens reach the logits only through the class token: their Grad-CAM is zero."""
    pytest.importorskip("timm")
    assert default_layer("timm:test_vit") == "blocks.4"  # of blocks.0 … blocks.5
    x = torch.rand(1, 3, 160, 160, generator=torch.Generator().manual_seed(0))
    last = grad_cam(GradCamModel.build("timm:test_vit", "blocks.5"), x)
    chosen = grad_cam(GradCamModel.build("timm:test_vit"), x)
    assert float(last.raw.abs().max()) == 0.0 and float(chosen.raw.max()) > 0


def test_cam_refusals_name_the_fix():
    vgg_like = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    with pytest.raises(InvertError, match="CAM does not apply to Sequential.*grad-cam"):
        cam(GradCamModel(vgg_like, "1"), torch.rand(1, 3, 8, 8))
    with pytest.raises(InvertError, match="'conv3' is not that layer of cifar_resnet20 — use --layer conv4"):
        cam(GradCamModel.build("cifar_resnet20", "conv3"), torch.rand(1, 3, 32, 32))
    assert cam(GradCamModel.build("cifar_resnet20", "conv4"), torch.rand(1, 3, 32, 32)).raw.shape == (1, 8, 8)


def test_attribution_figure_has_a_colour_bar_and_m_i_axis_is_linear_within_a_decade():
    fig = attribution_figure(torch.rand(2, 3, 8, 8), torch.rand(2, 8, 8), ["a", "b"], "t")
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and bars[0].get_ylim() == (0.0, 1.0)
    assert span_scale([30.0, 35.0, 41.0]) == "linear" and span_scale([1.0, 12.0]) == "log"
    hist = [{"iteration": i, "target": 0, "restart": 0, "m_g": 100.0 / (i + 1), "m_i": 30.0 + i} for i in range(5)]
    axes = distance_figure(hist, [5.0]).axes
    assert axes[0].get_yscale() == "log" and axes[1].get_yscale() == "linear"
    hist = [{**h, "m_i": 100.0 / (h["iteration"] + 1) ** 2} for h in hist]
    assert distance_figure(hist, [5.0]).axes[1].get_yscale() == "log"


def test_cifar_class_names_are_the_datasets_own(shared):
    with np.load(shared / "data" / "cifar10" / "test.npz") as data:  # the dataset's own list
        assert tuple(str(c) for c in data["classes"]) == CIFAR10_CLASSES


def test_class_names():
    assert class_names("cifar_resnet20", 10) == CIFAR10_CLASSES
    names = imagenet_classes()
    assert len(names) == 1000 and names[207] == "golden retriever" and names[0] == "tench"
    assert class_names("timm:resnet50d", 1000) == names
    assert class_names("mlp-10x2", 10) is None and class_names("resnet18", 7) is None
    assert label(3, CIFAR10_CLASSES) == "cat (3)" and label(3, None) == "3"


def test_cli_attribute_and_attack_pick_the_model_size_layer_and_name_classes(cli, tmp_path, shared):
    img = shared / "data" / "cifar10" / "samples" / "cifar10_00_3.png"  # a cat
    trained = ("--model", "cifar_resnet20", "--weights", "trained", "--image", img, "--quiet")
    r = cli("attribute", *trained, "--out", tmp_path / "a")
    assert r.code == 0, r.err
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert (m["layer"], m["size"], m["class_names"], m["indices"]) == ("conv4", 32, ["cat"], [3])
    r = cli("attack", *trained, "--out", tmp_path / "k")
    assert r.code == 0, r.err
    m = json.loads((tmp_path / "k" / "metrics.json").read_text())
    assert m["size"] == 32 and m["clean_name"] == ["cat"]  # at its own 32 px the clean image is classified right
    assert m["adversarial_name"] == [CIFAR10_CLASSES[c] for c in m["adversarial_class"]]


def test_sweep_cells_take_the_model_size_unless_set():
    from invert.sweep.spec import expand, job_for, parse_spec

    spec = parse_spec(
        {"model": ["cifar_resnet20", "resnet18"], "layer": ["conv2"], "seed": [0], "preset": ["default", "badger"]}
    )
    sizes = {(c.model, c.preset): job_for(spec, c, ".")[1].size for c in expand(spec)}
    assert sizes == {
        ("cifar_resnet20", "default"): 32,
        ("resnet18", "default"): 224,
        ("cifar_resnet20", "badger"): 299,
        ("resnet18", "badger"): 299,
    }  # a preset's fixed size stays
    fixed = parse_spec({"model": ["cifar_resnet20"], "layer": ["conv2"], "run": {"size": 48}})
    assert job_for(fixed, expand(fixed)[0], ".")[1].size == 48
