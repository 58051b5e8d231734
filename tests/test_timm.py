"""timm models as a family: cut at FX nodes, stage aliases, pretrained-config normalisation, offline weights."""

from __future__ import annotations

import pytest
import torch

timm = pytest.importorskip("timm")  # an optional extra; the `test` extra installs it so CI runs these

from invert.encoders import build_encoder, build_model, get_spec  # noqa: E402
from invert.encoders.registry import default_size  # noqa: E402
from invert.errors import InvertError  # noqa: E402
from invert.inversion import invert  # noqa: E402
from invert.io import default_image_path, load_image  # noqa: E402


@pytest.fixture(autouse=True)
def empty_caches(tmp_path, monkeypatch):
    """No Hugging Face or torch hub cache: nothing pretrained can be found, nothing is downloaded."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torchhub"))
    yield tmp_path
    torch.hub.set_dir(old)


def test_timm_model_inverted_at_a_graph_node_m_g_falls():
    enc = build_encoder("timm:test_resnet", "layer1.0.act1", input_size=48, seed=0)
    assert enc.node == "layer1.0.act1"
    a = load_image(default_image_path(), 48)[None]
    res = invert(enc, a, iterations=40, record_every=5, seed=0)
    mg = [h["m_g"] for h in res.history]
    assert mg[-1] < 0.5 * mg[0], mg
    assert float(res.m_g[0, 0]) < float(res.m_s[0])


def test_encoder_computes_the_same_as_a_hook_on_the_full_timm_model():
    net, _ = build_model("timm:test_convnext", seed=3)
    seen = {}
    net.stages[1].register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        net(x)
        got = build_encoder("timm:test_convnext", "stages.1", seed=3, input_size=64, exact=True)(x)
    torch.testing.assert_close(got, seen["out"], rtol=0, atol=0)


def test_stage_aliases_and_the_report_names_for_timm_resnets():
    spec = get_spec("timm:resnet50d")
    assert [spec.aliases[f"conv{i}"] for i in range(1, 6)] == ["act1", "layer1", "layer2", "layer3", "layer4"]
    assert spec.aliases["layer3"] == "layer3"
    assert list(get_spec("timm:test_convnext").aliases) == [f"stages.{i}" for i in range(4)]
    # an alias and the module it names give the same encoder output
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    a = build_encoder("timm:test_resnet", "conv3", input_size=64, exact=True)(x)
    b = build_encoder("timm:test_resnet", "node:layer2", input_size=64, exact=True)(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_input_size_and_normalisation_come_from_the_pretrained_config(tmp_path):
    net = timm.create_model("vit_small_patch16_224", pretrained=False)
    data = timm.data.resolve_model_data_config(net)  # timm's own reading of the config
    spec = get_spec("timm:vit_small_patch16_224")
    assert spec.mean == tuple(data["mean"]) == (0.5, 0.5, 0.5)
    assert spec.std == tuple(data["std"])
    assert spec.input_shape == tuple(data["input_size"])
    vit_cfg = timm.data.resolve_model_data_config(timm.create_model("test_vit"))
    assert default_size("timm:test_vit") == vit_cfg["input_size"][-1] == 160
    # trained weights (a file) switch normalisation on, with those statistics
    path = tmp_path / "w.pt"
    torch.save(timm.create_model("test_resnet").state_dict(), path)
    enc = build_encoder("timm:test_resnet", "conv2", str(path), input_size=32)
    assert enc.normalize is not None
    assert enc.normalize.mean.flatten().tolist() == pytest.approx(list(get_spec("timm:test_resnet").mean))


def test_pretrained_weights_offline_say_where_to_put_the_file():
    with pytest.raises(InvertError, match=r"huggingface\.co/timm/test_resnet.*--weights FILE"):
        build_model("timm:test_resnet", "imagenet")


def test_local_weights_file_safetensors_and_hub_cache(empty_caches):
    from safetensors.torch import save_file

    torch.manual_seed(7)
    ref = timm.create_model("test_resnet").eval()
    state = {k: v.contiguous() for k, v in ref.state_dict().items()}
    path = empty_caches / "model.safetensors"
    save_file(state, str(path))
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = ref.forward_features(x)
        got = build_encoder("timm:test_resnet", "layer4", str(path), normalize=False, input_size=48, exact=True)(x)
    torch.testing.assert_close(got, want)
    # the same file in the Hugging Face cache layout is found as the published weights, offline
    snap = empty_caches / "hf" / "models--timm--test_resnet.r160_in1k"
    (snap / "refs").mkdir(parents=True)
    (snap / "refs" / "main").write_text("abc123")
    (snap / "snapshots" / "abc123").mkdir(parents=True)
    save_file(state, str(snap / "snapshots" / "abc123" / "model.safetensors"))
    net, _ = build_model("timm:test_resnet", "imagenet")
    torch.testing.assert_close(net.state_dict()["fc.weight"], ref.state_dict()["fc.weight"], rtol=0, atol=0)


def test_unknown_timm_model_suggests_names():
    with pytest.raises(InvertError, match="did you mean timm:convnext_tiny"):
        get_spec("timm:convnext_tinyy")


def test_cli_layers_and_models_list_timm(cli):
    res = cli("layers", "timm:test_resnet", "--json")
    assert res.code == 0, res.err
    import json

    rows = json.loads(res.out)["layers"]
    assert {"layer": "conv5", "node": "layer4", "alias": True} == {k: rows[4][k] for k in ("layer", "node", "alias")}
    res = cli("models")
    assert res.code == 0
    timm_rows = [line for line in res.out.splitlines() if "timm:" in line]
    assert len(timm_rows) == 1, timm_rows
