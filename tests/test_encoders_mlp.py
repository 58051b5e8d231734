"""MLP encoders: the name grammar, layer addressing, seeding, dtype and refusals."""

import math

import pytest
import torch

from invert.encoders import MLP, build_encoder, encoder_from_module, get_spec, layer_table
from invert.encoders.mlp import mlp_name, parse_mlp_name
from invert.errors import InvertError


def test_default_mlp_is_the_reports_three_layer_2523_model():
    spec = get_spec("mlp")
    assert spec.input_shape == (3, 29, 29)
    net = spec.build()
    assert [lin.weight.shape for _, lin in net.linear_layers()] == [(2523, 2523)] * 3
    assert all(lin.bias is not None for _, lin in net.linear_layers())


@pytest.mark.parametrize(
    "name, widths, act, bias, shape",
    [
        ("mlp-2000x3", (2000, 2000, 2000), "linear", True, (3, 29, 29)),
        ("mlp-4000,2523,2523-relu", (4000, 2523, 2523), "relu", True, (3, 29, 29)),
        ("mlp-2523x3-nobias", (2523, 2523, 2523), "linear", False, (3, 29, 29)),
        ("mlp-in3x12x12", (432, 432, 432), "linear", True, (3, 12, 12)),
        ("mlp-50-tanh-in1x4x4", (50,), "tanh", True, (1, 4, 4)),
    ],
)
def test_name_grammar(name, widths, act, bias, shape):
    p = parse_mlp_name(name)
    assert p == {"input_shape": shape, "widths": widths, "bias": bias, "activation": act}
    assert parse_mlp_name(mlp_name(shape, widths, bias, act)) == p  # canonical names round-trip


@pytest.mark.parametrize("bad", ["mlp-12y3", "mlpx", "mlp-0x3", "mlp-10x2-swish", "mlp-in3x0x4"])
def test_malformed_names_are_refused_with_the_grammar(bad):
    with pytest.raises(InvertError, match="mlp"):
        get_spec(bad)


def test_build_encoder_cuts_at_named_layers_and_aliases():
    x = torch.rand(2, 3, 29, 29)
    enc = build_encoder("mlp-2000x3", "fc2")
    assert enc(x).shape == (2, 2000) and enc.input_shape == (3, 29, 29)
    assert not hasattr(enc.body, "fc3")  # computes nothing beyond the layer
    relu = build_encoder("mlp-64,32-relu-in3x4x4", "output")
    assert relu.node == "act2" and (relu(torch.rand(5, 3, 4, 4)) >= 0).all()
    assert build_encoder("mlp-64,32-relu-in3x4x4", "layer1").node == "act1"
    full = build_encoder("mlp-64,32-relu-in3x4x4", "output", seed=3)
    net = MLP((3, 4, 4), [64, 32], activation="relu")
    net.load_state_dict(full.body.state_dict())
    xx = torch.rand(3, 3, 4, 4)
    assert torch.allclose(full(xx), net(xx))


def test_encoder_from_module_uses_the_mlps_shape_and_aliases():
    net = MLP((3, 12, 12), [100, 50])
    enc = encoder_from_module(net, "fc1")
    assert enc.input_shape == (3, 12, 12) and enc(torch.rand(1, 3, 12, 12)).shape == (1, 100)
    assert encoder_from_module(net, "output").node == "fc2"
    with pytest.raises(InvertError, match="unknown layer"):
        encoder_from_module(net, "fc7")


def test_seeded_kaiming_uniform_init_and_float64():
    a = build_encoder("mlp-30x2-in1x5x5", "output", seed=1)
    b = build_encoder("mlp-30x2-in1x5x5", "output", seed=1)
    c = build_encoder("mlp-30x2-in1x5x5", "output", seed=2)
    wa, wb, wc = (e.body.fc1.weight for e in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    bound = 1 / math.sqrt(25)  # kaiming_uniform(a=√5) on fan_in 25
    assert wa.abs().max() <= bound and wa.abs().max() > 0.8 * bound
    d = build_encoder("mlp-30x2-in1x5x5", "output", seed=1, dtype=torch.float64)
    assert (
        d.body.fc1.weight.dtype == torch.float64
        and d(torch.rand(1, 1, 5, 5, dtype=torch.float64)).dtype == torch.float64
    )


def test_layer_table_lists_mlp_layers_with_shapes():
    rows = {r["name"]: r["shape"] for r in layer_table("mlp-10,20-relu-in1x4x4")}
    assert rows["fc1"] == (10,) and rows["act2"] == (20,) and rows["output"] == (20,) and rows["flatten"] == (16,)
