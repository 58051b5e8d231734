"""Encoders: any model cut at a layer, frozen, with its input normalisation built in."""

from invert.encoders.base import Encoder, Normalize
from invert.encoders.registry import (
    ModelSpec,
    available_models,
    build_encoder,
    build_model,
    encoder_from_module,
    get_spec,
    layer_table,
    load_state_dict_file,
    register_model,
    resolve_layer,
)

__all__ = [
    "Encoder",
    "ModelSpec",
    "Normalize",
    "available_models",
    "build_encoder",
    "build_model",
    "encoder_from_module",
    "get_spec",
    "layer_table",
    "load_state_dict_file",
    "register_model",
    "resolve_layer",
]
