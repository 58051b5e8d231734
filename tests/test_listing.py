"""`invert layers` / `invert models`: whole names in pipes, JSON for scripts, aliases marked, input size stated."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import torch
import torchvision
from torchvision.models.feature_extraction import get_graph_node_names

from invert.listing import print_layers

INVERT = Path(sys.executable).with_name("invert")


def test_piped_densenet121_listing_cuts_no_name():
    proc = subprocess.run(f"{INVERT} layers densenet121 | cat", shell=True, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout and "..." not in proc.stdout
    lines = proc.stdout.splitlines()
    assert lines[0].split("\t") == ["layer", "graph node", "shape", "elements", "kind"]
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(r) == 5 for r in rows)
    _, nodes = get_graph_node_names(torchvision.models.densenet121().eval())
    listed = {r[1] for r in rows}
    longest = max((n for n in nodes if n != "x"), key=len)  # e.g. features.denseblock4.denselayer16.norm1 …
    assert longest in listed
    assert "3×224×224" in proc.stderr  # the title names the input the shapes are for


def test_terminal_table_folds_instead_of_cutting():
    buf = io.StringIO()
    print_layers("densenet121", 64, terminal=True, stream=buf)
    text = buf.getvalue()
    assert "…" not in text
    assert "3×64×64" in text


def test_json_shapes_match_a_forward_hook_and_aliases_are_marked(cli):
    res = cli("layers", "resnet18", "--size", "64", "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["input_shape"] == [3, 64, 64]
    rows = {r["layer"]: r for r in doc["layers"]}
    net = torchvision.models.resnet18().eval()
    seen = {}
    net.layer2.register_forward_hook(lambda m, i, o: seen.setdefault("layer2", o))
    net.relu.register_forward_hook(lambda m, i, o: seen.setdefault("relu", o))
    with torch.no_grad():
        net(torch.zeros(1, 3, 64, 64))
    assert rows["conv3"]["shape"] == list(seen["layer2"].shape[1:]) == [128, 8, 8]
    assert rows["conv3"]["elements"] == 128 * 8 * 8
    assert rows["conv3"]["alias"] is True and rows["conv3"]["node"] == "layer2"
    assert rows["conv1"]["alias"] is True and rows["conv1"]["node"] == "relu"
    assert rows["conv1"]["shape"] == list(seen["relu"].shape[1:])
    # the raw stem convolution is shadowed by the alias conv1: its row says how to reach it
    assert rows["node:conv1"]["alias"] is False and rows["node:conv1"]["node"] == "conv1"
    assert "conv1" not in [r["layer"] for r in doc["layers"] if not r["alias"]]
    assert rows["relu"]["aliased_by"] == ["conv1"]


def test_piped_rows_mark_aliases_and_shadowed_nodes(cli):
    res = cli("layers", "resnet18")
    assert res.code == 0
    rows = {r.split("\t")[0]: r.split("\t") for r in res.out.splitlines()[1:]}
    assert rows["conv2"][1:] == ["layer1", "64×56×56", str(64 * 56 * 56), "alias"]
    assert rows["node:conv1"][4] == "node"
    assert rows["relu"][4] == "node (alias conv1)"


def test_aliases_on_a_model_without_any_says_so(cli):
    res = cli("layers", "vgg16", "--aliases")
    assert res.code == 0
    assert res.out.strip() == ""
    assert "vgg16 has no aliases" in res.err
    res = cli("layers", "resnet18", "--aliases")
    names = [r.split("\t")[0] for r in res.out.splitlines()[1:]]
    assert names == ["conv1", "conv2", "conv3", "conv4", "conv5", "avgpool", "fc"]


def test_models_lists_each_family_once(cli):
    res = cli("models")
    assert res.code == 0
    names = [line.split("\t")[0] for line in res.out.splitlines()]
    assert "resnet50" in names and "cifar_resnet20" in names
    assert names.count("timm:ARCH") == 1 and names.count("mlp-SPEC") == 1
    assert sum(n.startswith("timm:") for n in names) == 1
