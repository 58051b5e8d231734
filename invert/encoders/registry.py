"""Model registry and ``build_encoder``: model name + layer name + weights → :class:`Encoder`.

Layer names are resolved in one place (:func:`resolve_layer`): a family alias (the report's
``conv1``…``conv5`` for ResNets) or any graph node name from torchvision's
``feature_extraction``. Prefix ``node:`` to force a node whose name an alias shadows.
"""

from __future__ import annotations

import difflib
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import torch
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from invert.encoders import cifar
from invert.encoders.base import IMAGENET_MEAN, IMAGENET_STD, Encoder, Normalize
from invert.encoders.probe import ProbeFailed, check_layer, meta_forward, node_problem, output_shape, size_error
from invert.errors import InvertError

RESNET_ALIASES: dict[str, str] = {
    "conv1": "relu",  # stem after its ReLU, before max-pool
    "conv2": "layer1",
    "conv3": "layer2",
    "conv4": "layer3",
    "conv5": "layer4",
    "avgpool": "avgpool",
    "fc": "fc",
}
CIFAR_RESNET_ALIASES: dict[str, str] = {
    "conv1": "relu",
    "conv2": "layer1",
    "conv3": "layer2",
    "conv4": "layer3",
    "avgpool": "avgpool",
    "fc": "linear",
}


@dataclass(frozen=True)
class ModelSpec:
    """How to build one named model and what its layers are called."""

    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, int, int] = (3, 224, 224)
    aliases: Mapping[str, str] = field(default_factory=dict)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    trained_weights: Callable[[], Mapping[str, torch.Tensor]] | None = None
    description: str = ""


_REGISTRY: dict[str, ModelSpec] = {}
#: Parametric model families: a name prefix and the factory that turns a full name into a spec.
_FAMILIES: dict[str, Callable[[str], ModelSpec]] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry (later registration of the same name replaces it)."""
    _REGISTRY[spec.name] = spec
    return spec


#: One line per family for `invert models`: how its names are formed.
_FAMILY_USAGE: dict[str, str] = {}


def register_family(prefix: str, factory: Callable[[str], ModelSpec], usage: str = "") -> None:
    """Route every model name starting with ``prefix`` (``mlp``, ``timm:``) to ``factory(name)``.

    Families let parametric or external model zoos plug in without the registry naming them;
    ``usage`` is the one line `invert models` shows for the whole family (default: the factory's docstring).
    """
    _FAMILIES[prefix] = factory
    _FAMILY_USAGE[prefix] = usage or (factory.__doc__ or prefix).strip().splitlines()[0]


def family_usage() -> dict[str, str]:
    """Each registered family prefix with its one-line usage (one `invert models` row per family)."""
    return {p: _FAMILY_USAGE.get(p, "") for p in sorted(_FAMILIES)}


#: Hooks that give FX's tracer extra arguments for a model (leaf modules, wrapped functions), e.g. timm's.
_TRACER_HOOKS: list[Callable[[nn.Module], dict | None]] = []


def register_tracer_hook(hook: Callable[[nn.Module], dict | None]) -> None:
    """Let a model zoo tell FX which of its modules/functions to keep opaque (``hook(net)`` → tracer kwargs or None)."""
    _TRACER_HOOKS.append(hook)


def tracer_kwargs(net: nn.Module) -> dict:
    """The FX tracer arguments the registered hooks ask for ``net`` (empty for plain torchvision models)."""
    merged: dict[str, list] = {}
    for hook in _TRACER_HOOKS:
        for key, values in (hook(net) or {}).items():
            merged.setdefault(key, []).extend(values)
    return merged


def feature_extractor(net: nn.Module, return_nodes: dict[str, str]) -> nn.Module:
    """torchvision's ``create_feature_extractor`` with the tracer arguments ``net``'s zoo registered."""
    return create_feature_extractor(net, return_nodes=return_nodes, tracer_kwargs=tracer_kwargs(net) or None)


def default_size(model: str) -> int:
    """The model's own input side in pixels (32 for CIFAR ResNets, 224 for ImageNet models, timm's pretrained_cfg)."""
    return int(get_spec(model).input_shape[-1])


def families() -> list[str]:
    """The registered family prefixes."""
    return sorted(_FAMILIES)


def _family_for(name: str) -> Callable[[str], ModelSpec] | None:
    """The factory of the longest registered prefix of ``name``, if any."""
    hits = [p for p in _FAMILIES if name.startswith(p)]
    return _FAMILIES[max(hits, key=len)] if hits else None


def _torchvision_names() -> list[str]:
    return sorted(torchvision.models.list_models(module=torchvision.models))


def available_models() -> list[str]:
    """Every model name ``build_encoder`` accepts: the registry plus torchvision classifiers."""
    return sorted(set(_REGISTRY) | set(_torchvision_names()))


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` for ``name``; torchvision classifiers are specified on demand."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    factory = _family_for(name)
    if factory is not None:  # parametric families, e.g. mlp-2523x3-relu
        return factory(name)
    if name in _torchvision_names():
        aliases = RESNET_ALIASES if name.startswith(("resnet", "wide_resnet", "resnext")) else {}
        return ModelSpec(
            name=name,
            build=lambda: torchvision.models.get_model(name, weights=None),
            input_shape=(3, 224, 224),
            aliases=aliases,
            trained_weights=lambda: _torchvision_imagenet_state_dict(name),
            description=f"torchvision {name}",
        )
    close = difflib.get_close_matches(name, available_models(), n=5, cutoff=0.5)
    hint = f" — did you mean {', '.join(close)}?" if close else ""
    raise InvertError(f"unknown model {name!r}{hint} (run `invert models` for the full list)")


def _torchvision_imagenet_state_dict(name: str) -> Mapping[str, torch.Tensor]:
    """torchvision's default ImageNet weights, from the hub cache or the network; a clear error offline."""
    weights = torchvision.models.get_model_weights(name).DEFAULT
    url = weights.url
    cache = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    try:
        return weights.get_state_dict(progress=False, check_hash=False)
    except Exception as exc:  # URLError, HTTPError, socket errors: all mean "cannot be had here"
        raise InvertError(
            f"ImageNet weights for {name} are not cached at {cache} and cannot be downloaded here "
            f"({exc.__class__.__name__}): fetch {url} on a connected machine and pass --weights FILE "
            f"(or copy it to {cache})"
        ) from None


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from a .pt/.pth/.th file; unwraps ``{'state_dict': ...}`` and ``module.`` prefixes."""
    p = Path(path)
    if not p.is_file():
        raise InvertError(f"weights file not found: {p} — pass 'untrained', 'imagenet' or a path to a state-dict file")
    obj: object  # a state dict, or a checkpoint wrapping one: checked below
    try:
        if p.suffix == ".safetensors":  # the format timm's weights come in from the Hugging Face hub
            from safetensors.torch import load_file

            obj = load_file(str(p), device="cpu")
        else:
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InvertError(
            f"cannot load weights from {p}: {exc.__class__.__name__} — expected a torch state dict (.pt/.pth)"
        ) from None
    for key in ("state_dict", "model_state", "model", "encoder"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InvertError(f"{p} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def build_model(name: str, weights: str = "untrained", seed: int = 0) -> tuple[nn.Module, ModelSpec]:
    """Construct the full model with the requested weights, frozen and in eval mode.

    ``weights``: ``untrained`` (PyTorch's default init, drawn from ``seed``), ``imagenet`` /
    ``trained`` (the model's published weights), or a path to a state-dict file.
    """
    spec = get_spec(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = spec.build()
    if weights in ("untrained", "random", "none"):
        pass
    elif weights in ("imagenet", "trained", "pretrained"):
        if spec.trained_weights is None:
            raise InvertError(f"model {name} has no published weights — pass a state-dict file with --weights")
        _load_into(model, spec.trained_weights(), f"{weights} weights")
    else:
        _load_into(model, load_state_dict_file(weights), str(weights))
    model.requires_grad_(False).eval()
    return model, spec


def _load_into(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1:2]
        raise InvertError(f"weights {source} do not fit this model: {first[0].strip() if first else exc}") from None


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


def input_normalizer(spec: ModelSpec, weights: str, normalize: bool | None = None) -> Normalize | None:
    """The model's per-channel input normalisation, or None. ``normalize=None`` follows the weights:
    trained weights expect normalised images, untrained ones see raw [0, 1] pixels (the report's choice)."""
    if normalize is None:
        normalize = str(weights) not in ("untrained", "random", "none", "custom")
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


def _cifar_shared_weights(depth: int) -> dict[str, torch.Tensor]:
    """The trained CIFAR-10 ResNet-{20,32,56} from the offline ``shared/weights`` folder."""
    from invert.io import shared_dir

    root = shared_dir()
    found = sorted((root / "weights" / "cifar10-resnet").glob(f"resnet{depth}-*.th")) if root else []
    if not found:
        raise InvertError(
            f"trained weights for cifar_resnet{depth} not found: set INVERT_SHARED to the folder holding "
            f"weights/cifar10-resnet/resnet{depth}-*.th, or pass --weights FILE"
        )
    return load_state_dict_file(found[0])


for _name, _fn, _n in (
    ("cifar_resnet20", cifar.cifar_resnet20, 20),
    ("cifar_resnet32", cifar.cifar_resnet32, 32),
    ("cifar_resnet56", cifar.cifar_resnet56, 56),
):
    register_model(
        ModelSpec(
            name=_name,
            build=_fn,
            input_shape=(3, 32, 32),
            aliases=CIFAR_RESNET_ALIASES,
            trained_weights=functools.partial(_cifar_shared_weights, _n),
            description=f"He et al. CIFAR-10 ResNet-{_n} (option-A shortcuts)",
        )
    )
register_model(
    ModelSpec(
        name="cifar_resnet18",
        build=cifar.cifar_resnet18,
        input_shape=(3, 32, 32),
        aliases=RESNET_ALIASES,
        description="ResNet-18 for CIFAR-10 (3×3 stem, no max-pool), the thesis encoder",
    )
)
