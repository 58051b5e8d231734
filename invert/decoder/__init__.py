"""Learned decoders: the amortised inverter (Björklund 2024), trained per checkpoint and compared with optimisation."""

from invert.decoder.architecture import (
    Adapter,
    DecoderBlock,
    LearnedUnpool,
    ResNetDecoder,
    build_decoder,
    checkpoint_layers,
    mirror_conv,
    resnet_stages,
    warm_start,
)

__all__ = [
    "Adapter",
    "DecoderBlock",
    "LearnedUnpool",
    "ResNetDecoder",
    "build_decoder",
    "checkpoint_layers",
    "mirror_conv",
    "resnet_stages",
    "warm_start",
]
