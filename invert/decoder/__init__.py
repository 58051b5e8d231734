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

from invert.decoder.compare import Comparison, compare_inverters, comparison_grid, cost_quality_figure, winners  # noqa: E402
from invert.decoder.evaluation import (  # noqa: E402
    Reconstruction,
    artificial_logits_figure,
    class_mixing,
    class_mixing_figure,
    decode_logits,
    error_figure,
    evaluate_decoder,
    mean_image_baseline,
    measure,
    reconstruction_grid,
)
from invert.decoder.training import (  # noqa: E402
    QUICK,
    DecoderTrainConfig,
    DecoderTrainResult,
    TrainingInterrupted,
    classifier_for,
    load_decoder,
    save_decoder,
    train_decoder,
    train_decoders,
)

__all__ += [
    "Comparison",
    "compare_inverters",
    "comparison_grid",
    "cost_quality_figure",
    "winners",
    "Reconstruction",
    "artificial_logits_figure",
    "class_mixing",
    "class_mixing_figure",
    "decode_logits",
    "error_figure",
    "evaluate_decoder",
    "mean_image_baseline",
    "measure",
    "reconstruction_grid",
    "QUICK",
    "DecoderTrainConfig",
    "DecoderTrainResult",
    "TrainingInterrupted",
    "classifier_for",
    "load_decoder",
    "save_decoder",
    "train_decoder",
    "train_decoders",
]
