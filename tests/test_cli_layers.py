"""`invert layers` names every name `--layer` accepts: the module paths above the graph nodes too."""

from __future__ import annotations

import io
import json

from invert.encoders import get_spec
from invert.encoders.registry import graph_nodes, resolve_layer
from invert.listing import print_layers


def test_layers_lists_the_module_names_run_accepts(cli):
    buffer = io.StringIO()
    print_layers("resnet18", 32, as_json=True, stream=buffer)
    modules = json.loads(buffer.getvalue())["modules"]
    assert {"layer1", "layer4", "layer1.0"} <= set(modules)
    spec = get_spec("resnet18")
    nodes = graph_nodes(spec.build())
    assert all(resolve_layer(m, spec, nodes) == m for m in modules)  # each is accepted by --layer
    assert modules["layer1"].startswith("layer1.1.")  # the module's last node
    r = cli("layers", "resnet18", "--size", "32")
    assert r.code == 0 and "also accepted by --layer: " in r.err and "layer1.0" in r.err
