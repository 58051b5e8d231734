"""Encoders: any model cut at a layer, frozen, with its input normalisation built in."""

from invert.encoders import timm as _timm_family  # noqa: E402,F401  (registers "timm:"; imports timm only when used)
from invert.encoders.base import Encoder, Normalize, output_stride
from invert.encoders.mlp import MLP, mlp_spec  # noqa: E402  (registers the "mlp" family)
from invert.encoders.registry import (
    ModelSpec,
    available_models,
    build_encoder,
    build_model,
    encoder_from_module,
    get_spec,
    layer_table,
    load_state_dict_file,
    register,
    register_family,
    register_model,
    resolve_layer,
)
from invert.encoders.weights import Weights

__all__ = [
    "Encoder",
    "MLP",
    "ModelSpec",
    "Normalize",
    "Weights",
    "available_models",
    "build_encoder",
    "build_model",
    "encoder_from_module",
    "get_spec",
    "layer_table",
    "output_stride",
    "load_state_dict_file",
    "mlp_spec",
    "register",
    "register_family",
    "register_model",
    "resolve_layer",
]
