"""Encoders: exact equality with the hooked full model, alias shapes, truncation, weights, errors."""

import urllib.error

import pytest
import torch
import torchvision

from invert.encoders import build_encoder, build_model, layer_table
from invert.encoders.registry import CIFAR_RESNET_ALIASES, RESNET_ALIASES
from invert.errors import InvertError


def _hooked(model, module_name, x):
    store = {}
    h = model.get_submodule(module_name).register_forward_hook(lambda m, i, o: store.setdefault("out", o))
    with torch.no_grad():
        model(x)
    h.remove()
    return store["out"]


@pytest.mark.parametrize(
    "name,aliases,size",
    [("resnet18", RESNET_ALIASES, 64), ("resnet50", RESNET_ALIASES, 64), ("cifar_resnet20", CIFAR_RESNET_ALIASES, 32)],
)
def test_encoder_equals_hooked_activation_for_every_alias(name, aliases, size):
    torch.manual_seed(1)
    x = torch.rand(2, 3, size, size)
    full, _ = build_model(name, "untrained", seed=3)
    for alias, module in aliases.items():
        ref = _hooked(full, module, x)
        exact = build_encoder(name, alias, "untrained", seed=3, exact=True)
        fused = build_encoder(name, alias, "untrained", seed=3)  # BatchNorm folded, NHWC
        with torch.no_grad():
            assert torch.equal(exact(x).reshape(ref.shape), ref), f"{name} {alias}"
            torch.testing.assert_close(fused(x).reshape(ref.shape), ref, rtol=1e-4, atol=1e-5 * ref.abs().max().item())


def test_fused_encoder_has_no_batchnorm_and_copies_stay_frozen():
    import copy

    enc = build_encoder("resnet50", "conv3")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in enc.modules())
    dup = copy.deepcopy(enc)
    assert not any(m.training for m in dup.modules()) and not any(p.requires_grad for p in dup.parameters())
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(dup(x), enc(x))
    assert enc._uses_channels_last(x) and not build_encoder("resnet50", "conv3", exact=True)._uses_channels_last(x)


def test_alias_shapes_resnet50_299():
    shapes = {r["name"]: r["shape"] for r in layer_table("resnet50", 299) if "alias" not in r}
    assert shapes["conv1"] == (64, 150, 150)
    assert shapes["conv2"] == (256, 75, 75)
    assert shapes["conv4"] == (1024, 19, 19)
    assert shapes["conv5"] == (2048, 10, 10)
    assert shapes["fc"] == (1000,)
    enc = build_encoder("resnet50", "conv4", input_size=299)
    assert enc.input_shape == (3, 299, 299)


def test_encoder_computes_nothing_beyond_layer_and_is_frozen():
    enc = build_encoder("resnet50", "conv2")
    names = {n.split(".")[0] for n, _ in enc.body.named_modules() if n}
    assert "layer1" in names and not names & {"layer2", "layer3", "layer4", "fc"}
    assert all(not p.requires_grad for p in enc.parameters())
    enc.train()
    assert not any(m.training for m in enc.modules())


def test_graph_node_names_address_layers():
    enc = build_encoder("resnet18", "layer3.1.relu_1")
    assert enc(torch.rand(1, 3, 64, 64)).shape == (1, 256, 4, 4)
    assert build_encoder("resnet18", "node:conv1")(torch.rand(1, 3, 64, 64)).shape == (1, 64, 32, 32)


def test_unknown_layer_lists_closest_names():
    with pytest.raises(InvertError, match=r"unknown layer 'conv7'.*closest: conv\d"):
        build_encoder("resnet18", "conv7")
    with pytest.raises(InvertError, match="unknown model 'resnet51'.*resnet50"):
        build_encoder("resnet51", "conv2")


def test_normalisation_follows_weights(tmp_path):
    assert build_encoder("resnet18", "conv2").normalize is None
    model = torchvision.models.resnet18()
    path = tmp_path / "w.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, path)
    enc = build_encoder("resnet18", "fc", str(path))
    assert enc.normalize is not None
    x = torch.rand(1, 3, 64, 64)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(enc(x), model.eval()((x - mean) / std))


def test_weight_errors(tmp_path, monkeypatch):
    with pytest.raises(InvertError, match="weights file not found"):
        build_encoder("resnet18", "conv2", str(tmp_path / "missing.pt"))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InvertError, match="cannot load weights"):
        build_encoder("resnet18", "conv2", str(bad))
    wrong = tmp_path / "wrong.pt"
    torch.save(torchvision.models.resnet34().state_dict(), wrong)
    with pytest.raises(InvertError, match="do not fit"):
        build_encoder("resnet18", "conv2", str(wrong))

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(InvertError, match="--weights FILE"):
        build_encoder("resnet50", "conv4", "imagenet")


def test_cifar_trained_weights_load(shared):
    enc = build_encoder("cifar_resnet20", "fc", "trained")
    from invert.datasets import load_cifar10

    x, y = load_cifar10("test", limit=200)
    with torch.no_grad():
        acc = (enc(x).argmax(1) == y).float().mean().item()
    assert acc > 0.7  # ~82 % on these JPEG-passed images


def test_seeded_untrained_weights_reproducible():
    a = build_encoder("resnet18", "conv2", seed=5)
    b = build_encoder("resnet18", "conv2", seed=5)
    c = build_encoder("resnet18", "conv2", seed=6)
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))
