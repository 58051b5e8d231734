"""Which layers a profile inverts: the model family's named stages by default, every graph node, or a list.

:func:`choose_layers` returns :class:`ProfileLayer` rows — name (what `invert run --layer` takes), graph node,
relative depth (the node's position in the graph's execution order, 0 = input side, 1 = logits), the output
shape for one image and its size relative to the input (elements, stride). Shapes come from a dry run on the
``meta`` device (:func:`~invert.encoders.registry.layer_table`), so choosing layers costs no arithmetic.

Default per family:

- torchvision ResNets (and ``cifar_resnet18``): ``conv1``…``conv5``, ``avgpool``, ``fc``;
- CIFAR ResNets (``cifar_resnet20/32/56``): ``conv1``…``conv4``, ``avgpool``, ``fc``;
- timm models (``timm:ARCH``): timm's feature stages (``feature_info``; ``conv1``…``conv5`` for timm ResNets),
  then the logits;
- MLPs: ``layer1``…``layerK`` and ``output``;
- VGG (and other models whose ``features`` is a ``Sequential`` with max-pools): the output of each block (its
  max-pool), then the logits;
- torchvision ViTs: each encoder block (``encoder.layers.encoder_layer_K``), then the logits;
- anything else: the model's top-level modules in graph order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

from invert.errors import InvertError

ALL = "all"
"""``--layers all``: every graph node with a tensor output that can be inverted."""


@dataclass(frozen=True)
class ProfileLayer:
    """One layer of a profile: its name, graph node, relative depth and output size relative to the input."""

    name: str
    node: str
    depth: float
    shape: tuple[int, ...] | None
    elements_ratio: float | None  # output elements / input elements (one image)
    stride: int | None  # input pixels between neighbouring outputs; None for a flat output

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"] = list(self.shape) if self.shape is not None else None
        return d


def _family_default(model: str, spec: Any, net: Any, nodes: list[str]) -> list[str]:
    """The family's named stages (layer names `invert run --layer` accepts), input side first."""
    import torch.nn as nn

    aliases = list(spec.aliases)
    if model.startswith("timm:"):
        names, seen = [], set()
        for a in aliases:  # conv1…conv5 (timm ResNets) come first and shadow the stage names of the same nodes
            if spec.aliases[a] not in seen:
                seen.add(spec.aliases[a])
                names.append(a)
        return names + [nodes[-1]]
    if aliases:
        return aliases  # ResNets (conv1…conv5, avgpool, fc), CIFAR ResNets, MLPs (layer1…layerK, output)
    encoder = getattr(net, "encoder", None)
    blocks = getattr(encoder, "layers", None)
    if isinstance(blocks, nn.Sequential) and hasattr(net, "heads"):  # torchvision ViT
        return [f"encoder.layers.{name}" for name, _ in blocks.named_children()] + [nodes[-1]]
    features = getattr(net, "features", None)
    if isinstance(features, nn.Sequential):
        pools = [f"features.{n}" for n, m in features.named_children() if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
        if pools:  # VGG-style blocks: each ends at its pooling layer
            return pools + [nodes[-1]]
        return [f"features.{n}" for n, _ in features.named_children()] + [nodes[-1]]
    tops = list(dict.fromkeys(n.split(".")[0] for n in nodes))
    return [t for t in tops if t not in ("flatten", "getitem", "size")]


def choose_layers(model: str, layers: str | Sequence[str] | None = None, size: int | None = None) -> list[ProfileLayer]:
    """The layers a profile of ``model`` inverts, in depth order.

    ``layers``: ``None`` (the family's named stages), ``"all"`` (every graph node whose output is a tensor that
    depends on the input), or names (aliases or graph nodes, as `invert run --layer` takes them; a string is split
    at commas). ``size``: the input side in pixels (default: the model's own). Unknown names are refused with
    the closest valid ones, before anything runs.
    """
    import torch

    from invert.encoders.registry import _last_node, _node_outputs, get_spec, graph_nodes, resolve_layer

    spec = get_spec(model)
    input_shape = tuple(spec.input_shape) if size is None else (spec.input_shape[0], size, size)
    try:  # weights on the meta device: no time spent drawing ResNet-50's or ViT's initial weights
        with torch.device("meta"):
            net = spec.build().eval()
        nodes = graph_nodes(net)
        shapes, problems = _node_outputs(net, nodes, input_shape, spec)  # a dry run on the meta device
    except InvertError:
        raise
    except Exception:  # a model whose construction or graph needs real tensors
        net = spec.build().eval()
        nodes = graph_nodes(net)
        shapes, problems = _node_outputs(net, nodes, input_shape, spec)
    invertible = [n for n in nodes if n in shapes and n not in problems]
    if isinstance(layers, str):
        layers = ALL if layers.strip() == ALL else [s.strip() for s in layers.split(",") if s.strip()]
    if layers is None or (not isinstance(layers, str) and not layers):
        names = _family_default(model, spec, net, nodes)
    elif layers == ALL:
        names = invertible
    else:
        names = list(dict.fromkeys(layers))
    n_in = 1
    for d in input_shape:
        n_in *= int(d)
    out: list[ProfileLayer] = []
    for name in names:
        node = resolve_layer(name, spec, nodes)  # refuses an unknown name with the closest ones
        last = _last_node(node, nodes)
        shape = shapes.get(last)
        if shape is None and layers == ALL:
            continue
        depth = nodes.index(last) / max(len(nodes) - 1, 1) if last in nodes else float("nan")
        n_out = None
        if shape is not None:
            n_out = 1
            for d in shape:
                n_out *= int(d)
        stride = None
        if shape is not None and len(shape) == 3 and len(input_shape) == 3:
            stride = max(1, round(input_shape[-1] / shape[-1]))
        out.append(
            ProfileLayer(
                name=name,
                node=node,
                depth=round(depth, 4),
                shape=tuple(int(d) for d in shape) if shape is not None else None,
                elements_ratio=(n_out / n_in) if n_out is not None else None,
                stride=stride,
            )
        )
    if not out:
        raise InvertError(f"no layers of {model} to profile — name some with --layers (see `invert layers {model}`)")
    return sorted(out, key=lambda p: p.depth)
