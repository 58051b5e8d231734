"""Class names for figures and metrics: CIFAR-10's ten, ImageNet's thousand (torchvision's weights metadata,
offline), else the index."""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

#: CIFAR-10's classes in label order (Krizhevsky 2009; the order of the dataset's ``batches.meta``).
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """ImageNet-1k's 1000 category names, from torchvision's weights metadata (shipped with torchvision)."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


def class_names(model: str, num_classes: int) -> tuple[str, ...] | None:
    """The names of ``model``'s ``num_classes`` outputs when they are known: CIFAR-10 for 10-way CIFAR models,
    ImageNet for 1000-way heads; None otherwise (callers then show the index)."""
    if num_classes == 10 and "cifar" in model.lower():
        return CIFAR10_CLASSES
    if num_classes == 1000:
        return imagenet_classes()
    return None


def label(index: int, names: Sequence[str] | None) -> str:
    """``"cat (3)"`` when the name is known, else ``"3"``."""
    index = int(index)
    return f"{names[index]} ({index})" if names is not None and 0 <= index < len(names) else str(index)


def labels(indices: Sequence[int], names: Sequence[str] | None) -> list[str]:
    """:func:`label` for each index."""
    return [label(int(i), names) for i in indices]
