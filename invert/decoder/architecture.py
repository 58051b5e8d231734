"""Decoders that mirror a ResNet up to a checkpoint (Björklund 2024, §2.5.2, figs. 8–9).

The encoder is walked once into *stages* — stem, max-pool (if real), every residual block,
average pooling, classifier — and each stage gets a mirror: transposed convolutions in reverse
order for a block, a learnable unpooling for average pooling, a linear layer for the logits,
a transposed stem convolution back to RGB. A decoder for a checkpoint chains the mirrors of every
stage up to it, deepest first. Mirrors are keyed by the encoder's module names, so a decoder for
a later checkpoint can be warm-started from an earlier one by name (the thesis's §3.2).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from invert.encoders.registry import ModelSpec, _last_node, build_model, get_spec, graph_nodes, resolve_layer
from invert.errors import InvertError

M = TypeVar("M", bound=nn.Module)


def mirror_conv(conv: nn.Conv2d, bias: bool = False) -> nn.ConvTranspose2d:
    """The transposed convolution with ``conv``'s kernel, stride and padding, restoring its input shape.

    ``output_padding = stride + 2·padding − kernel`` makes an ``H`` input come back as ``stride·H``.
    """
    k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    if not isinstance(p, int):
        raise InvertError(
            f"cannot mirror a convolution with padding={conv.padding!r}: use a ResNet with numeric padding"
        )
    op = max(0, min(s + 2 * p - k, s - 1))
    return nn.ConvTranspose2d(
        conv.out_channels, conv.in_channels, k, s, p, output_padding=op, groups=conv.groups, bias=bias
    )


class LearnedUnpool(nn.Module):
    """Undo global average pooling: replicate each channel over (H, W), times a trained multiplier.

    The multiplier is an ``nn.Parameter`` of shape (C, H, W) created once and initialised to 1
    (plain replication). The thesis code re-creates it inside ``forward``, so there it never
    leaves 1 and never learns; here the optimiser updates it like every other weight.
    ``learn=False`` reproduces the thesis code: the multiplier is a constant buffer of ones.
    """

    def __init__(self, channels: int, height: int, width: int, learn: bool = True):
        super().__init__()
        if learn:
            self.weight = nn.Parameter(torch.ones(channels, height, width))
        else:
            self.register_buffer("weight", torch.ones(channels, height, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        c, h, w = self.weight.shape
        return x.reshape(n, c, 1, 1).expand(n, c, h, w) * self.weight

    def extra_repr(self) -> str:
        return "channels={}, size={}x{}".format(*self.weight.shape)


class DecoderBlock(nn.Module):
    """Mirror of one residual block: its convolutions transposed in reverse order, each followed by
    batch norm (ReLU between), plus the shortcut mirrored as a 1×1 transposed convolution when the
    block changes shape — the stride moves from the block's first convolution to its last (fig. 9)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        convs = [m for _, m in block.named_children() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise InvertError(f"cannot mirror block {block.__class__.__name__}: it has no direct Conv2d children")
        layers: list[nn.Module] = []
        for i, conv in enumerate(reversed(convs)):
            layers += [mirror_conv(conv), nn.BatchNorm2d(conv.in_channels)]
            if i < len(convs) - 1:
                layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)
        c_in, c_out = convs[0].in_channels, convs[-1].out_channels
        stride = max(c.stride[0] for c in convs)
        self.shortcut: nn.Module = nn.Identity()
        if c_in != c_out or stride != 1:
            self.shortcut = nn.Sequential(
                nn.ConvTranspose2d(c_out, c_in, 1, stride, 0, output_padding=stride - 1, bias=False),
                nn.BatchNorm2d(c_in),
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class Adapter(nn.Module):
    """Maps an activation taken inside a stage (any graph node) to the shape of the last stage boundary before it."""

    def __init__(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...], final: bool):
        super().__init__()
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        if len(in_shape) == 1:
            if len(out_shape) == 1 or tuple(out_shape[1:]) == (1, 1):
                self.net: nn.Module = (
                    nn.Linear(in_shape[0], out_shape[0]) if in_shape[0] != out_shape[0] else nn.Identity()
                )
                return
            raise InvertError(
                f"cannot decode a vector of {in_shape[0]} into a {out_shape} map at this layer: pick a stage boundary "
                "(conv*/avgpool/fc)"
            )
        c, h, w = in_shape
        c2, h2, w2 = out_shape
        if h2 % h or w2 % w or h2 // h != w2 // w:
            raise InvertError(
                f"cannot mirror a {h}×{w} activation onto {h2}×{w2}: pick a stage boundary layer (conv*/avgpool/fc)"
            )
        s = h2 // h
        layers: list[nn.Module] = [nn.ConvTranspose2d(c, c2, 3, s, 1, output_padding=s - 1, bias=final)]
        if not final:
            layers += [nn.BatchNorm2d(c2), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.in_shape) == 1:
            x = self.net(x.flatten(1))
            return x.reshape(x.shape[0], *self.out_shape) if len(self.out_shape) == 3 else x
        return self.net(x)


@dataclass(frozen=True)
class Stage:
    """One mirrored piece of the encoder: its key (module name), the graph node it ends at, output shape."""

    key: str
    node: str
    shape: tuple[int, ...]
    kind: str  # stem | maxpool | block | avgpool | fc


def resnet_stages(
    net: nn.Module, input_shape: tuple[int, int, int], shapes: dict[str, tuple[int, ...]] | None = None
) -> list[Stage]:
    """The ResNet's stage boundaries in forward order with their output shapes (probed on a zero image)."""
    fc_name = "fc" if isinstance(getattr(net, "fc", None), nn.Linear) else "linear"
    if not (
        isinstance(getattr(net, "conv1", None), nn.Conv2d)
        and hasattr(net, "layer1")
        and hasattr(net, "avgpool")
        and isinstance(getattr(net, fc_name, None), nn.Linear)
    ):
        raise InvertError(
            f"decoders mirror ResNet-family models (torchvision resnet*, cifar_resnet*); "
            f"{net.__class__.__name__} has no conv1/layer1/avgpool/fc structure"
        )
    nodes = graph_nodes(net)
    stages = [Stage("stem", _last_node("relu", nodes), (), "stem")]
    if isinstance(getattr(net, "maxpool", None), nn.MaxPool2d):
        stages.append(Stage("maxpool", "maxpool", (), "maxpool"))
    k = 1
    while hasattr(net, f"layer{k}"):
        for i in range(len(getattr(net, f"layer{k}"))):
            stages.append(Stage(f"layer{k}.{i}", _last_node(f"layer{k}.{i}", nodes), (), "block"))
        k += 1
    stages += [Stage("avgpool", "avgpool", (), "avgpool"), Stage(fc_name, fc_name, (), "fc")]
    shapes = shapes if shapes is not None else _probe_shapes(net, [s.node for s in stages], input_shape)
    return [Stage(s.key, s.node, shapes[s.node], s.kind) for s in stages]


def _probe_shapes(net: nn.Module, nodes: list[str], input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    extractor = create_feature_extractor(net.eval(), return_nodes={n: n for n in nodes})
    p = next(iter(net.parameters()))
    with torch.no_grad():
        out = extractor(torch.zeros(1, *input_shape, device=p.device, dtype=p.dtype))
    return {k: tuple(v.shape[1:]) for k, v in out.items() if isinstance(v, torch.Tensor)}


def _module(net: nn.Module, key: str, kind: type[M]) -> M:
    """Submodule ``key`` of ``net``, checked to be a ``kind``."""
    m = net.get_submodule(key)
    if not isinstance(m, kind):
        raise InvertError(
            f"cannot mirror {key} of {net.__class__.__name__}: a {m.__class__.__name__}, not {kind.__name__}"
        )
    return m


def _shape_before(stage: Stage, prev: Stage | None) -> tuple[int, ...]:
    """The output shape of the stage before ``stage``: the input the mirror of ``stage`` restores."""
    if prev is None:
        raise InvertError(f"cannot mirror {stage.key}: it is the first stage")
    return prev.shape


TARGETS = ("normalized", "pixels")
"""What a decoder's last layer predicts: the classifier's normalised input (thesis §3.2, code) or [0, 1] pixels."""


class ResNetDecoder(nn.Module):
    """Maps the activation at one checkpoint of a ResNet back to an image in [0, 1] pixel units (clamp to view).

    ``mirrors`` holds one module per encoder stage up to the checkpoint, keyed by the stage's name
    (dots replaced by underscores); ``order`` is the decoding order, deepest stage first.
    With ``target="normalized"`` (the thesis's, text §3.2 and code) the mirrors predict the image as the
    classifier sees it, (x − mean)/std per channel, and ``forward`` maps that back to pixels with the
    model's mean/std (fixed buffers, not trained, not in the state dict). ``"pixels"`` predicts [0, 1]
    pixels directly (this package's earlier decoders): its output layer starts at ~2× the images' spread
    and takes many more steps to learn (quick conv2 test MSE 0.016 against 0.004 after 3 epochs).
    """

    out_mean: torch.Tensor  # buffers, registered in __init__: declared so they type as tensors
    out_std: torch.Tensor

    def __init__(
        self,
        mirrors: dict[str, nn.Module],
        order: list[str],
        *,
        model: str,
        layer: str,
        node: str,
        input_shape: tuple[int, ...],
        image_shape: tuple[int, int, int],
        learn_unpool: bool = True,
        target: str = "normalized",
        mean: tuple[float, ...] = (0.0, 0.0, 0.0),
        std: tuple[float, ...] = (1.0, 1.0, 1.0),
    ):
        super().__init__()
        if target not in TARGETS:
            raise InvertError(f"decoder target {target!r}: use one of {', '.join(TARGETS)}")
        self.learn_unpool = learn_unpool
        self.target = target
        c = image_shape[0]
        if len(mean) != c or len(std) != c:
            raise InvertError(f"mean/std have {len(mean)}/{len(std)} entries for a {c}-channel image")
        self.register_buffer("out_mean", torch.tensor(mean, dtype=torch.float32).view(1, c, 1, 1), persistent=False)
        self.register_buffer("out_std", torch.tensor(std, dtype=torch.float32).view(1, c, 1, 1), persistent=False)
        self.mirrors = nn.ModuleDict(mirrors)
        self.order = list(order)
        self.model_name, self.layer, self.node = model, layer, node
        self.input_shape, self.image_shape = tuple(input_shape), tuple(image_shape)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        x = a
        for key in self.order:
            x = self.mirrors[key](x)
        return x * self.out_std + self.out_mean if self.target == "normalized" else x

    def pixel_scale(self) -> torch.Tensor:
        """Per-channel (1, C, 1, 1) scale of the predicted quantity in pixels: std for normalised targets, else 1."""
        return self.out_std if self.target == "normalized" else torch.ones_like(self.out_std)

    @torch.no_grad()
    def decode(self, a: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Reconstructions in [0, 1], eval mode, batched."""
        was = self.training
        self.eval()
        p = next(self.parameters())
        out = torch.cat(
            [self(a[i : i + batch_size].to(p.device, p.dtype)).clamp(0, 1) for i in range(0, len(a), batch_size)]
        )
        self.train(was)
        return out

    def meta(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "layer": self.layer,
            "node": self.node,
            "input_shape": list(self.input_shape),
            "image_shape": list(self.image_shape),
            "order": self.order,
            "learn_unpool": self.learn_unpool,
            "target": self.target,
        }

    def extra_repr(self) -> str:
        return (
            f"model={self.model_name}, layer={self.layer} (node {self.node}), "
            f"{self.input_shape} -> {self.image_shape}, target={self.target}"
        )


def _mirror_for(net: nn.Module, stage: Stage, prev: Stage | None, learn_unpool: bool = True) -> nn.Module:
    if stage.kind == "stem":  # the output layer: back to RGB, no norm or activation
        return mirror_conv(_module(net, "conv1", nn.Conv2d), bias=True)
    if stage.kind == "maxpool":
        pool = _module(net, "maxpool", nn.MaxPool2d)
        k = pool.kernel_size if isinstance(pool.kernel_size, int) else pool.kernel_size[0]
        s = pool.stride if isinstance(pool.stride, int) else pool.stride[0]
        p = pool.padding if isinstance(pool.padding, int) else pool.padding[0]
        c = _shape_before(stage, prev)[0]
        return nn.Sequential(
            nn.ConvTranspose2d(c, c, k, s, p, output_padding=max(0, min(s + 2 * p - k, s - 1)), bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
        )
    if stage.kind == "block":
        return DecoderBlock(_module(net, stage.key, nn.Module))
    if stage.kind == "avgpool":
        c, h, w = _shape_before(stage, prev)
        return LearnedUnpool(c, h, w, learn=learn_unpool)
    fc = _module(net, stage.key, nn.Linear)
    return nn.Sequential(nn.Linear(fc.out_features, fc.in_features), nn.Unflatten(1, (fc.in_features, 1, 1)))


def _image_shape(spec: ModelSpec, input_size: int | None) -> tuple[int, int, int]:
    c, h, w = spec.input_shape
    return (c, h, w) if input_size is None else (c, input_size, input_size)


def _analyse(
    net: nn.Module, image_shape: tuple[int, int, int]
) -> tuple[list[str], list[Stage], dict[str, tuple[int, ...]]]:
    nodes = graph_nodes(net)
    shapes = _probe_shapes(net, nodes, image_shape)
    return nodes, resnet_stages(net, image_shape, shapes), shapes


@functools.lru_cache(maxsize=16)
def _structure(model: str, input_size: int | None):
    """The untrained model (read-only: only its layer hyper-parameters are used), its nodes, stages and node shapes."""
    net, spec = build_model(model, "untrained", 0)
    nodes, stages, shapes = _analyse(net, _image_shape(spec, input_size))
    return net, spec, nodes, stages, shapes


def checkpoint_layers(model: str) -> list[str]:
    """The thesis's checkpoints for ``model``: after each residual stage, after average pooling,
    after the classifier.
    """
    spec = get_spec(model)
    return [a for a in spec.aliases if a != "conv1"]


def build_decoder(
    model: str | nn.Module,
    layer: str,
    *,
    spec: ModelSpec | None = None,
    input_size: int | None = None,
    seed: int = 0,
    learn_unpool: bool = True,
    target: str = "normalized",
) -> ResNetDecoder:
    """A decoder for the activation of ``model`` at ``layer``
    (alias like ``conv3``/``avgpool``/``fc`` or any graph node).

    ``model`` is a registered name (e.g. ``cifar_resnet20``) or an ``nn.Module`` with ``spec`` describing it.
    Parameters are drawn from ``seed`` with PyTorch's default initialisation, U(−√t, √t) with t = 1/fan-in —
    the thesis's t = 1/(c_out·k²) for transposed convolutions; for the linear layer its text says t = 10,
    its code uses this default (t = 1/10). ``learn_unpool=False`` freezes the unpooling multiplier at 1,
    as the thesis code does in effect (see :class:`LearnedUnpool`). ``target``: what the last layer predicts —
    ``"normalized"`` (thesis: the image normalised with the model's mean/std) or ``"pixels"``
    (see :class:`ResNetDecoder`).
    """
    if isinstance(model, str):
        net, spec, nodes, stages, shapes = _structure(model, input_size)
    else:
        net = model
        spec = spec or ModelSpec(name=net.__class__.__name__, build=lambda: net)
        nodes, stages, shapes = _analyse(net, _image_shape(spec, input_size))
    image_shape = _image_shape(spec, input_size)
    node = _last_node(resolve_layer(layer, spec, nodes), nodes)
    idx = {n: i for i, n in enumerate(nodes)}
    if node not in idx:
        raise InvertError(f"layer {layer!r} resolves to {node!r}, which is not a node of {spec.name}")
    before = [s for s in stages if idx[s.node] <= idx[node]]
    mirrors: dict[str, nn.Module] = {}
    order: list[str] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        node_shape = shapes[node]
        if not before or before[-1].node != node:
            boundary = before[-1].shape if before else image_shape
            key = "adapter_" + node.replace(".", "_")
            mirrors[key] = Adapter(node_shape, boundary, final=not before)
            order.append(key)
        for i in range(len(before) - 1, -1, -1):
            st = before[i]
            key = st.key.replace(".", "_")
            mirrors[key] = _mirror_for(net, st, before[i - 1] if i > 0 else None, learn_unpool)
            order.append(key)
    dec = ResNetDecoder(
        mirrors,
        order,
        model=spec.name,
        layer=layer,
        node=node,
        input_shape=node_shape,
        image_shape=image_shape,
        learn_unpool=learn_unpool,
        target=target,
        mean=tuple(spec.mean),
        std=tuple(spec.std),
    )
    with torch.no_grad():  # shape check on the meta device: no arithmetic
        out = copy.deepcopy(dec).to("meta").eval()(torch.zeros(2, *node_shape, device="meta"))
    if tuple(out.shape[1:]) != image_shape:
        raise InvertError(
            f"the decoder for {spec.name} {layer} produces {tuple(out.shape[1:])}, not {image_shape}: "
            f"use an input size divisible by the network's total stride (e.g. 32 or 224)"
        )
    return dec.train()


def warm_start(decoder: ResNetDecoder, previous: ResNetDecoder | dict[str, torch.Tensor]) -> list[str]:
    """Copy every parameter and buffer of ``previous`` whose name and shape match (thesis §3.2);
    returns the names copied.
    """
    src = previous.state_dict() if isinstance(previous, nn.Module) else previous
    own = decoder.state_dict()
    take = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    decoder.load_state_dict(take, strict=False)
    return sorted(take)
