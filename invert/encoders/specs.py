"""The model registry: :class:`ModelSpec` (how to build a model, its input, its layer aliases, its published weights),
registration by decorator on each builder (:func:`register`), parametric families (``mlp…``, ``timm:``), and
torchvision's classifiers specified on demand."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import torch
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from invert.encoders.base import IMAGENET_MEAN, IMAGENET_STD
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


B = TypeVar("B", bound=Callable[[], nn.Module])


def register(name: str | None = None, **spec: Any) -> Callable[[B], B]:
    """Register the decorated builder as model ``name`` (default: the function's name); ``spec`` holds the other
    :class:`ModelSpec` fields (``input_shape``, ``aliases``, ``trained_weights``, ...)::

        @register(input_shape=(3, 32, 32), aliases=CIFAR_RESNET_ALIASES, description="...")
        def cifar_resnet20() -> nn.Module: ...
    """

    def decorate(build: B) -> B:
        register_model(ModelSpec(name=name or build.__name__, build=build, **spec))
        return build

    return decorate


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
