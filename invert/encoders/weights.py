"""Which weights a model carries: :class:`Weights`, a small enum with metadata (torchvision's ``WeightsEnum`` habit),
and weights files.

``--weights`` takes a name (``untrained``, ``trained`` and their synonyms ``random``/``none``,
``imagenet``/``pretrained``) or the path of a state-dict file; :meth:`Weights.parse` reads either.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from invert.errors import InvertError


@dataclass(frozen=True)
class WeightsInfo:
    """What a kind of weights is: its name, the names that mean the same, whether a model carrying them expects
    normalised input (mean/std of its training data), and one line for help texts."""

    name: str
    synonyms: tuple[str, ...]
    normalizes: bool
    description: str


class Weights(enum.Enum):
    """The named kinds of weights; a file path is the third way to give them (:meth:`parse`)."""

    UNTRAINED = WeightsInfo(
        "untrained", ("random", "none"), False, "PyTorch's default initialisation, drawn from the seed"
    )
    TRAINED = WeightsInfo(
        "trained", ("imagenet", "pretrained"), True, "the model's published weights (ImageNet, or CIFAR-10 for cifar_*)"
    )
    CUSTOM = WeightsInfo("custom", (), False, "whatever a module given directly carries (encoder_from_module)")

    @property
    def info(self) -> WeightsInfo:
        return self.value

    @property
    def names(self) -> tuple[str, ...]:
        """Every name that means this kind, its own first."""
        return (self.info.name, *self.info.synonyms)

    def __str__(self) -> str:
        return self.info.name

    @classmethod
    def parse(cls, value: str | os.PathLike | Weights) -> Weights | Path:
        """The kind a ``--weights`` value names, or the path of a weights file for anything else."""
        if isinstance(value, Weights):
            return value
        text = os.fspath(value)
        for kind in cls:
            if text in kind.names:
                return kind
        return Path(text)

    @classmethod
    def choices(cls) -> list[str]:
        """The names ``--weights`` accepts besides a path (for help texts)."""
        return [n for kind in (cls.UNTRAINED, cls.TRAINED) for n in kind.names]


def normalizes(weights: str | os.PathLike | Weights) -> bool:
    """Whether a model with these weights expects normalised input: trained weights and weights files do, untrained
    and custom ones see raw [0, 1] pixels (the report's choice)."""
    kind = Weights.parse(weights)
    return kind.info.normalizes if isinstance(kind, Weights) else True


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


def load_into(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model`` strictly; a mismatch is refused in one short line (:func:`mismatch`)."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InvertError(
            f"weights {source} do not fit this model: {mismatch(model.state_dict(), state) or exc}"
        ) from None


def _shape(t: torch.Tensor) -> str:
    return "×".join(map(str, t.shape)) or "scalar"


def mismatch(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor], show: int = 3) -> str:
    """Which tensors disagree (the first ``show`` of each kind) and what the file looks like it holds."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [k for k in expected if k in found and expected[k].shape != found[k].shape]

    def first(keys: list[str], what: str) -> str:
        more = f" and {len(keys) - show} more" if len(keys) > show else ""
        return f"{len(keys)} {what} ({', '.join(keys[:show])}{more})"

    parts = [first(missing, "missing")] if missing else []
    parts += [first(unexpected, "unexpected")] if unexpected else []
    parts += (
        [
            f"{len(shapes)} of other shape ("
            + ", ".join(f"{k} {_shape(found[k])} in the file, {_shape(expected[k])} here" for k in shapes[:show])
            + (f" and {len(shapes) - show} more" if len(shapes) > show else "")
            + ")"
        ]
        if shapes
        else []
    )
    last = next((k for k in reversed(list(found)) if k.endswith("weight") and found[k].dim() == 2), None)
    holds = f"{len(found)} tensors" + (f", ending in {last} {_shape(found[last])}" if last else "")
    return f"{'; '.join(parts)} — the file holds {holds} (this model has {len(expected)}): another architecture?"
