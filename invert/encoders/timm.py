"""timm's model zoo as a model family: ``timm:ARCH`` (``timm:convnext_tiny``, ``timm:resnet50d``,
``timm:vit_small_patch16_224``).

Models are cut at FX graph nodes like torchvision's, with timm's own leaf modules and wrapped
functions so tracing works; timm's feature stages (``feature_info``: ``stages.0``, ``layer3``,
``blocks.11``) are the aliases, plus the report's ``conv1``…``conv5`` for timm ResNets. The input
normalisation and size come from the model's pretrained config. timm is imported only when a
``timm:`` name is used, so a missing timm costs nothing until then.
"""

from __future__ import annotations

import difflib
import os
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from invert.encoders.registry import ModelSpec, register_family, register_tracer_hook
from invert.errors import InvertError

PREFIX = "timm:"


def _timm() -> ModuleType:
    """The timm package, or a one-line error saying how to get it."""
    try:
        import timm
    except ImportError:
        raise InvertError(
            "timm models need the timm package: pip install 'invert[timm]' (or pip install timm)"
        ) from None
    return timm


def _report_aliases(stages: list[str]) -> dict[str, str]:
    """The report's conv1…conv5 for ResNet-shaped stage lists (stem activation, then layer1…layer4)."""
    if len(stages) == 5 and stages[1:] == ["layer1", "layer2", "layer3", "layer4"]:
        return {f"conv{i + 1}": s for i, s in enumerate(stages)}
    return {}


@lru_cache(maxsize=64)
def timm_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``timm:ARCH``: builder, input shape and normalisation from the pretrained config,
    stage aliases."""
    timm = _timm()
    arch = name.removeprefix(PREFIX)
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=5, cutoff=0.6)
        hint = f" — did you mean {', '.join(PREFIX + c for c in close)}?" if close else ""
        raise InvertError(f"unknown timm model {arch!r}{hint} (timm.list_models() lists all {len(timm.list_models())})")
    cfg = timm.get_pretrained_cfg(arch)
    mean = tuple(cfg.mean) if cfg is not None else (0.485, 0.456, 0.406)
    std = tuple(cfg.std) if cfg is not None else (0.229, 0.224, 0.225)
    input_shape = tuple(cfg.input_size) if cfg is not None else (3, 224, 224)
    with torch.device("meta"):  # the stage list without spending any arithmetic on weights
        probe = timm.create_model(arch, pretrained=False)
    stages = [f["module"] for f in getattr(probe, "feature_info", [])]
    aliases = {**_report_aliases(stages), **{s: s for s in stages}}
    return ModelSpec(
        name=name,
        build=lambda: timm.create_model(arch, pretrained=False),
        input_shape=input_shape,
        aliases=aliases,
        mean=mean,
        std=std,
        trained_weights=lambda: _pretrained_state_dict(arch),
        description=f"timm {arch}",
    )


def _cached_weights(cfg: object) -> Path | None:
    """The pretrained weights file if it is already on this machine (Hugging Face cache or torch hub cache)."""
    hub_id = getattr(cfg, "hf_hub_id", None)
    if hub_id:
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(hub_id, filename)
            if isinstance(found, str):
                return Path(found)
    url = getattr(cfg, "url", None)
    if url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
        if path.is_file():
            return path
    return None


def _pretrained_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """timm's published weights from the local caches only (never the network), or an error saying where they go."""
    timm = _timm()
    cfg = timm.get_pretrained_cfg(arch)
    found = _cached_weights(cfg)
    if found is None:
        hub_id = getattr(cfg, "hf_hub_id", None)
        hub_file = f"https://huggingface.co/{hub_id}/resolve/main/model.safetensors"
        where = hub_file if hub_id else getattr(cfg, "url", None)
        if not where:
            raise InvertError(f"timm:{arch} has no published weights — pass a state-dict file with --weights")
        raise InvertError(
            f"pretrained weights for timm:{arch} are not in the Hugging Face or torch hub cache and are not "
            "downloaded here: "
            f"fetch {where} on a connected machine and pass --weights FILE"
        )
    model = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay={"file": str(found)})
    return model.state_dict()


def _tracer_hook(net: nn.Module) -> dict | None:
    """timm's modules and functions FX must not trace into (only for timm models)."""
    if not type(net).__module__.startswith("timm."):
        return None
    from timm.models._features_fx import get_notrace_functions, get_notrace_modules

    return {"leaf_modules": list(get_notrace_modules()), "autowrap_functions": list(get_notrace_functions())}


register_family(
    PREFIX,
    timm_spec,
    usage="any timm architecture (timm:convnext_tiny, timm:resnet50d, "
    "timm:vit_small_patch16_224; timm.list_models() names them all); needs timm",
)
register_tracer_hook(_tracer_hook)
