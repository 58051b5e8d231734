"""Weights as a small enum with metadata, string names still accepted; models registered by a decorator."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from invert.encoders import Weights, build_encoder, build_model, get_spec, register
from invert.encoders.specs import _REGISTRY
from invert.encoders.weights import normalizes


def test_every_name_parses_to_its_kind_and_anything_else_is_a_file() -> None:
    for kind in (Weights.UNTRAINED, Weights.TRAINED):
        assert all(Weights.parse(name) is kind for name in kind.names)
    assert Weights.parse("imagenet") is Weights.TRAINED and str(Weights.TRAINED) == "trained"
    assert Weights.parse("runs/model.pt") == Path("runs/model.pt")
    assert Weights.parse(Weights.UNTRAINED) is Weights.UNTRAINED
    assert Weights.choices() == ["untrained", "random", "none", "trained", "imagenet", "pretrained"]


def test_normalisation_follows_the_kind() -> None:
    assert normalizes("trained") and normalizes("pretrained") and normalizes("some/file.pt")
    assert not normalizes("untrained") and not normalizes("none") and not normalizes("custom")


def test_the_enum_and_its_name_build_the_same_encoder() -> None:
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    by_name = build_encoder("cifar_resnet20", "conv2", "random", seed=3)
    by_kind = build_encoder("cifar_resnet20", "conv2", Weights.UNTRAINED, seed=3)
    assert torch.equal(by_name(x), by_kind(x)) and by_name.normalize is None


def test_a_decorated_builder_is_registered(tmp_path: Path) -> None:
    @register("tiny_test_net", input_shape=(3, 8, 8), aliases={"conv1": "0"}, description="a test net")
    def tiny() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())

    try:
        spec = get_spec("tiny_test_net")
        assert spec.build is tiny and spec.input_shape == (3, 8, 8) and spec.description == "a test net"
        net, _ = build_model("tiny_test_net", "untrained", seed=1)
        torch.save(net.state_dict(), tmp_path / "w.pt")
        loaded, _ = build_model("tiny_test_net", str(tmp_path / "w.pt"))
        assert all(
            torch.equal(a, b) for a, b in zip(net.state_dict().values(), loaded.state_dict().values(), strict=True)
        )
        assert build_encoder("tiny_test_net", "conv1")(torch.zeros(1, 3, 8, 8)).shape == (1, 4, 6, 6)
    finally:
        _REGISTRY.pop("tiny_test_net")


def test_the_cifar_models_register_through_their_builders() -> None:
    from invert.encoders import cifar

    assert get_spec("cifar_resnet20").build is cifar.cifar_resnet20
    assert get_spec("cifar_resnet18").trained_weights is None
    with pytest.raises(Exception, match="no published weights"):
        build_model("cifar_resnet18", "trained")
