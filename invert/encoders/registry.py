"""Model registry and ``build_encoder``: model name + layer name + weights → :class:`Encoder`.

Layer names are resolved in one place (:func:`resolve_layer`): a family alias (the report's
``conv1``…``conv5`` for ResNets) or any graph node name from torchvision's
``feature_extraction``. Prefix ``node:`` to force a node whose name an alias shadows.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Mapping

import torch
from torch import nn
from torchvision.models.feature_extraction import get_graph_node_names

from invert.encoders import cifar  # noqa: F401  (its builders register the CIFAR models)
from invert.encoders.base import Encoder, Normalize
from invert.encoders.probe import ProbeFailed, check_layer, meta_forward, node_problem, output_shape, size_error
from invert.encoders.specs import (  # noqa: F401  (importable from here as before)
    _FAMILIES,
    _REGISTRY,
    CIFAR_RESNET_ALIASES,
    RESNET_ALIASES,
    ModelSpec,
    available_models,
    default_size,
    families,
    family_usage,
    feature_extractor,
    get_spec,
    register,
    register_family,
    register_model,
    register_tracer_hook,
    tracer_kwargs,
)
from invert.encoders.weights import Weights, load_into, load_state_dict_file, normalizes
from invert.errors import InvertError


def build_model(name: str, weights: str | Weights = "untrained", seed: int = 0) -> tuple[nn.Module, ModelSpec]:
    """Construct the full model with the requested weights, frozen and in eval mode.

    ``weights`` (:class:`~invert.encoders.weights.Weights` or a name of one): ``untrained`` (PyTorch's default
    init, drawn from ``seed``), ``imagenet`` / ``trained`` (the model's published weights), or a path to a
    state-dict file.
    """
    spec = get_spec(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = spec.build()
    kind = Weights.parse(weights)
    if kind is Weights.TRAINED:
        if spec.trained_weights is None:
            raise InvertError(f"model {name} has no published weights — pass a state-dict file with --weights")
        load_into(model, spec.trained_weights(), f"{weights} weights")
    elif isinstance(kind, Path):
        load_into(model, load_state_dict_file(kind), str(weights))
    model.requires_grad_(False).eval()
    return model, spec


def graph_nodes(model: nn.Module) -> list[str]:
    """Every addressable node of the model's graph (eval mode), in execution order."""
    _, eval_nodes = get_graph_node_names(model, tracer_kwargs=tracer_kwargs(model) or None)
    return [n for n in eval_nodes if n != "x"]


def resolve_layer(layer: str, spec: ModelSpec, nodes: list[str]) -> str:
    """Alias or node name → graph node name; an unknown name is refused with the closest valid ones."""
    if layer.startswith("node:"):
        node = layer.removeprefix("node:")
    else:
        node = spec.aliases.get(layer, layer)
    modules = {n.split(".")[0] for n in nodes}  # module names like 'layer1' address their last node
    if node in nodes or node in modules or _is_module_path(node, nodes):
        return node
    valid = list(spec.aliases) + nodes
    close = difflib.get_close_matches(layer, valid, n=5, cutoff=0.4)
    hint = f"closest: {', '.join(close)}" if close else f"aliases: {', '.join(spec.aliases) or 'none'}"
    raise InvertError(f"unknown layer {layer!r} for {spec.name} ({hint}) — run `invert layers {spec.name}` to list all")


def _is_module_path(node: str, nodes: list[str]) -> bool:
    return any(n.startswith(node + ".") for n in nodes)


def build_encoder(
    model: str,
    layer: str,
    weights: str = "untrained",
    *,
    seed: int = 0,
    normalize: bool | None = None,
    input_size: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    exact: bool = False,
) -> Encoder:
    """``O_l``: ``model`` cut at ``layer``, frozen, eval-mode, computing nothing beyond the layer.

    ``model`` is a name ``invert models`` lists (torchvision, ``cifar_resnet20``, ``mlp-…``, ``timm:ARCH``);
    ``layer`` an alias (``conv1``…``conv5``, ``avgpool``, ``fc``) or a graph node (``invert layers MODEL``);
    ``weights`` ``untrained`` (PyTorch's default init drawn from ``seed``), ``trained``/``imagenet`` or a
    state-dict file.

    Shape:
        - input: (N, 3, H, W) images in [0, 1]
        - output: the layer's activation, (N, C, h, w) or (N, D)

    ``normalize=None`` follows the weights: trained weights normalise with the model's
    mean/std, untrained ones see raw [0, 1] pixels (the report's choice). By default the
    encoder is made fast — BatchNorm folded into the convolutions, NHWC on the CPU — which
    changes activations by float rounding (~1e-6 relative); ``exact=True`` keeps the graph as
    built, bit-identical to a hook on the full model.
    """
    net, spec = build_model(model, weights, seed)
    return encoder_from_module(
        net,
        layer,
        spec=spec,
        weights=weights,
        normalize=normalize,
        input_size=input_size,
        device=device,
        dtype=dtype,
        exact=exact,
    )


def encoder_from_module(
    net: nn.Module,
    layer: str,
    *,
    spec: ModelSpec | None = None,
    weights: str = "custom",
    normalize: bool | None = None,
    input_size: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    exact: bool = False,
    extra: Mapping[str, str] | None = None,
) -> Encoder:
    """Cut any ``nn.Module`` at ``layer`` (alias or graph node name) — the building block of :func:`build_encoder`.

    ``extra`` (name → layer) adds outputs computed in the same pass, read with :meth:`Encoder.outputs`
    (Grad-CAM needs the layer and the logits together).
    """
    model_spec = getattr(net, "model_spec", None)
    if spec is None and callable(model_spec):
        spec = model_spec()  # modules that know their input shape and aliases (e.g. MLP)
    spec = spec or ModelSpec(name=net.__class__.__name__, build=lambda: net)
    net = net.eval()
    nodes = graph_nodes(net)
    node = resolve_layer(layer, spec, nodes)
    outputs = {node: "out"}
    for name, extra_layer in (extra or {}).items():
        outputs.setdefault(resolve_layer(extra_layer, spec, nodes), name)
    body = feature_extractor(net, outputs)
    if not exact:
        body = fuse_batchnorm(body)
    norm = input_normalizer(spec, weights, normalize)
    shape = spec.input_shape
    if input_size is not None:
        shape = (shape[0], input_size, input_size)
    check_layer(body, model=spec.name, layer=layer, node=node, input_shape=shape, default_shape=spec.input_shape)
    enc = Encoder(
        body,
        model_name=spec.name,
        layer=layer,
        node=node,
        input_shape=shape,
        weights=str(weights),
        normalize=norm,
        channels_last=False if exact else None,
    )
    return enc.to(device=device, dtype=dtype)


def input_normalizer(spec: ModelSpec, weights: str | Weights, normalize: bool | None = None) -> Normalize | None:
    """The model's per-channel input normalisation, or None. ``normalize=None`` follows the weights:
    trained weights expect normalised images, untrained ones see raw [0, 1] pixels (the report's choice)."""
    if normalize is None:
        normalize = normalizes(weights)
    return Normalize(spec.mean, spec.std) if normalize and len(spec.input_shape) == 3 else None


def fuse_batchnorm(body: nn.Module) -> nn.Module:
    """Fold eval-mode BatchNorm into the preceding convolution (frozen encoder: same function, ~20 % less work).

    Outputs agree with the unfused graph to float rounding (~1e-6 relative); build the encoder
    with ``exact=True`` for bit-exact activations.
    """
    from torch.fx.experimental.optimization import fuse

    body.eval()
    try:
        fused = fuse(body, inplace=True)
    except Exception:  # graphs fx's pattern matcher cannot handle stay as they are
        return body
    return fused.requires_grad_(False).eval()


def layer_table(
    model: str, input_size: int | None = None, weights: str = "untrained", all_nodes: bool = False
) -> list[dict[str, object]]:
    """Every addressable layer of ``model`` with its output shape (for one input of ``input_size``).

    Shapes are computed on the ``meta`` device, so listing a large model costs no arithmetic.
    Nodes that cannot be inverted (not a tensor, or constant in the input) are left out, or with
    ``all_nodes`` listed with the reason under ``note``.
    """
    spec = get_spec(model)
    net = spec.build().eval()
    nodes = graph_nodes(net)
    shape = spec.input_shape if input_size is None else (spec.input_shape[0], input_size, input_size)
    shapes, problems = _node_outputs(net, nodes, shape, spec)
    alias_of = {v: k for k, v in spec.aliases.items()}
    rows: list[dict[str, object]] = []
    for alias, node in spec.aliases.items():
        rows.append({"name": alias, "node": node, "shape": shapes.get(_last_node(node, nodes))})
    for n in nodes:
        if n in problems and not all_nodes:
            continue
        rows.append(
            {
                "name": n,
                "node": n,
                "shape": None if n in problems else shapes.get(n),
                "alias": alias_of.get(n, ""),
                **({"note": problems[n]} if n in problems else {}),
            }
        )
    return rows


def _last_node(name: str, nodes: list[str]) -> str:
    """The graph node whose output a module name stands for (its last node), or the name itself."""
    inside = [n for n in nodes if n.startswith(name + ".")]
    return inside[-1] if name not in nodes and inside else name


def _node_outputs(
    net: nn.Module, nodes: list[str], input_shape: tuple[int, ...], spec: ModelSpec
) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Per node: its per-sample output shape, and for nodes that cannot be inverted, why (a dry run on ``meta``)."""
    extractor = feature_extractor(net, {n: n for n in nodes})
    try:
        out = meta_forward(extractor, input_shape)
    except ProbeFailed as failed:
        if tuple(input_shape) != tuple(spec.input_shape):
            try:
                meta_forward(extractor, spec.input_shape)
            except ProbeFailed:
                pass
            else:
                raise size_error(spec.name, None, input_shape, spec.input_shape, failed.cause) from None
        x = torch.zeros(1, *input_shape, requires_grad=True)  # no meta kernel for some operation: run it for real
        try:
            with torch.enable_grad():
                out = extractor(x)
        except Exception as exc:
            raise size_error(spec.name, None, input_shape, spec.input_shape, exc) from None
    shapes = {k: s for k, v in out.items() if (s := output_shape(v)) is not None}
    problems = {k: p for k, v in out.items() if (p := node_problem(v)) is not None}
    return shapes, problems
