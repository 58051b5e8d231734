"""Graph nodes that are not invertible tensors, and input sizes a model cannot take, are refused in one line.

Hold-out architectures (untrained, built once per module): ViT-B/16 (tuples, None, booleans,
a fixed input size) and ConvNeXt-Tiny (layer-scale parameters as graph nodes).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from invert.encoders import build_model, encoder_from_module, layer_table
from invert.encoders.probe import check_layer, meta_forward
from invert.encoders.registry import ModelSpec, register_model
from invert.errors import InvertError

VIT_BLOCK = "encoder.layers.encoder_layer_0"


@pytest.fixture(scope="module")
def vit() -> tuple[nn.Module, object]:
    return build_model("vit_b_16", "untrained", seed=0)


@pytest.fixture(scope="module")
def convnext() -> tuple[nn.Module, object]:
    return build_model("convnext_tiny", "untrained", seed=0)


class ToyViT(nn.Module):
    """A fixed-size model with tuple, None, bool and parameter nodes, like ViT, but cheap to trace."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 4, stride=4)
        self.token = nn.Parameter(torch.zeros(1, 4, 1))
        self.attention = nn.MultiheadAttention(4, 1, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch._assert(x.shape[-1] == 16, "Wrong image width! Expected 16")
        seq = torch.cat([self.token.expand(x.shape[0], -1, -1), self.conv(x).flatten(2)], 2).transpose(1, 2)
        pair = self.attention(seq, seq, seq, need_weights=False)
        return pair[0].mean(1)


register_model(ModelSpec(name="toy_vit_for_tests", build=ToyViT, input_shape=(3, 16, 16)))


@pytest.fixture(scope="module")
def toy_table() -> dict[str, dict]:
    return {r["name"]: r for r in layer_table("toy_vit_for_tests", all_nodes=True) if "alias" in r}


@pytest.mark.parametrize(
    ("node", "why"),
    [
        (f"{VIT_BLOCK}.self_attention", r"not a tensor \(it gives tuple\)"),
        (f"{VIT_BLOCK}.getitem_1", r"not a tensor \(it gives None\)"),
        ("eq", r"not a tensor \(it gives bool\)"),
        ("class_token", "constant in the input"),
    ],
)
def test_vit_non_tensor_and_constant_nodes_refused(vit, node: str, why: str) -> None:
    net, spec = vit
    with pytest.raises(
        InvertError, match=rf"layer '{node}' of vit_b_16 .*cannot be inverted: it is {why}.*invert layers vit_b_16"
    ):
        encoder_from_module(net, node, spec=spec, weights="untrained")


def test_vit_tensor_node_builds_with_its_shape(vit) -> None:
    net, spec = vit
    enc = encoder_from_module(net, f"{VIT_BLOCK}.mlp", spec=spec, weights="untrained")
    assert check_layer(
        enc.body, model="vit_b_16", layer="mlp", node=enc.node, input_shape=(3, 224, 224), default_shape=(3, 224, 224)
    ) == (197, 768)


def test_vit_wrong_size_says_which_size_it_needs(vit) -> None:
    net, spec = vit
    with pytest.raises(InvertError, match=r"vit_b_16 cannot take a 128×128 input .*Expected 224.*use --size 224"):
        encoder_from_module(net, f"{VIT_BLOCK}.mlp", spec=spec, weights="untrained", input_size=128)
    with pytest.raises(
        InvertError,
        match=r"toy_vit_for_tests cannot take a 24×24 input \(Wrong image width! Expected 16\) — use --size 16",
    ):
        layer_table("toy_vit_for_tests", 24)


def test_layer_table_lists_only_invertible_nodes_unless_asked(toy_table: dict[str, dict]) -> None:
    notes = {n: r["note"] for n, r in toy_table.items() if "note" in r}
    assert (
        "tuple" in notes["attention"]
        and "None" in notes["_assert"]
        and "bool" in notes["eq"]
        and "int" in notes["getitem"]
    )
    assert (
        "constant" in notes["token"] and "constant" in notes["expand"]
    )  # the parameter and what is made from it alone
    assert all(toy_table[n]["shape"] is None for n in notes)
    assert toy_table["getitem_2"]["shape"] == (17, 4) and toy_table["conv"]["shape"] == (
        4,
        4,
        4,
    )  # 1 token + 4×4 patches
    shown = {r["name"]: r for r in layer_table("toy_vit_for_tests") if "alias" in r}
    assert set(shown) == set(toy_table) - set(notes)
    assert all(r["shape"] is not None and "note" not in r for r in shown.values())


def test_convnext_layer_scale_parameter_refused_and_real_layer_kept(convnext) -> None:
    net, spec = convnext
    with pytest.raises(InvertError, match="features_1_0_layer_scale.*constant in the input"):
        encoder_from_module(net, "features.1.0.features_1_0_layer_scale", spec=spec, weights="untrained", input_size=32)
    enc = encoder_from_module(net, "features.1", spec=spec, weights="untrained", input_size=32)
    with torch.no_grad():
        assert enc(torch.rand(2, 3, 32, 32)).shape == (2, 96, 8, 8)


def test_check_layer_returns_shape_and_leaves_weights_alone() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    before = net[0].weight.clone()
    from torchvision.models.feature_extraction import create_feature_extractor

    body = create_feature_extractor(net, {"1": "out"})
    assert check_layer(body, model="toy", layer="1", node="1", input_shape=(3, 10, 12), default_shape=(3, 10, 12)) == (
        4,
        8,
        10,
    )
    assert net[0].weight.device.type == "cpu"
    torch.testing.assert_close(net[0].weight, before)
    assert meta_forward(body, (3, 10, 12))["out"].device.type == "meta"


def test_cli_refuses_tuple_node_and_zero_size_in_one_line(cli, tmp_path) -> None:
    r = cli(
        "run",
        "--model",
        "vit_b_16",
        "--layer",
        f"{VIT_BLOCK}.self_attention",
        "--iterations",
        "1",
        "--quiet",
        "--out",
        tmp_path / "o",
    )
    assert r.code == 2 and "cannot be inverted: it is not a tensor" in r.err
    assert "Traceback" not in r.err + r.out and len(r.err.strip().splitlines()) == 1
    r = cli("layers", "resnet18", "--size", "0")
    assert r.code == 2 and "--size 0" in r.err and "Traceback" not in r.err + r.out
