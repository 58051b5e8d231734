"""Image datasets as in-memory tensors: CIFAR-10 (torchvision, a local folder, or the offline .npz), MNIST.

Everything returns ``(images float (N, C, H, W) in [0, 1], labels long (N,))`` so the decoder,
classifier training and experiments share one format.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from invert.errors import InvertError
from invert.io import shared_dir

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _npz_images(path: Path, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    with np.load(path) as data:
        imgs = data["images"][:limit]
        labels = data["labels"][:limit]
    x = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2).float() / 255.0
    return x, torch.from_numpy(labels.astype(np.int64))


def load_cifar10(
    split: str = "train", limit: int | None = None, root: str | Path | None = None, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 ``train`` or ``test`` split.

    Order of sources: ``root`` as a torchvision CIFAR-10 folder or an ``.npz`` file; the offline
    arrays in ``shared/data/cifar10`` (``train20k.npz`` / ``test.npz``); torchvision's download
    when ``download`` is set. A clear error when none can be had.
    """
    if split not in ("train", "test"):
        raise InvertError(f"unknown split {split!r}: use train or test")
    if root is not None:
        r = Path(root)
        if r.suffix == ".npz" and r.is_file():
            return _npz_images(r, limit)
        return _torchvision_cifar(r, split, limit, download)
    sd = shared_dir()
    if sd is not None:
        f = sd / "data" / "cifar10" / ("train20k.npz" if split == "train" else "test.npz")
        if f.is_file():
            return _npz_images(f, limit)
    if download:
        return _torchvision_cifar(Path.home() / ".cache" / "invert" / "cifar10", split, limit, True)
    raise InvertError(
        "CIFAR-10 not found: pass --data DIR (a torchvision CIFAR-10 folder or .npz), set INVERT_SHARED, "
        "or allow --download"
    )


def _torchvision_cifar(root: Path, split: str, limit: int | None, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    import torchvision

    try:
        ds = torchvision.datasets.CIFAR10(str(root), train=(split == "train"), download=download)
    except Exception as exc:
        raise InvertError(
            f"cannot load CIFAR-10 from {root} ({exc.__class__.__name__}): offline, "
            "use the shared .npz arrays or --data FILE.npz"
        ) from None
    x = torch.from_numpy(ds.data[:limit]).permute(0, 3, 1, 2).float() / 255.0
    return x, torch.tensor(ds.targets[:limit], dtype=torch.long)


def sample_images(
    kind: str = "imagenet", limit: int | None = None, size: int | None = None
) -> tuple[torch.Tensor, list[str]]:
    """The offline sample images (``imagenet`` 512 px, ``cifar10`` 32 px, ``report``: Dalmatian + Tesla coil)."""
    from invert.io import load_image

    sd = shared_dir()
    if sd is None:
        raise InvertError("sample images not found: set INVERT_SHARED to the shared material folder")
    folder = {
        "imagenet": sd / "data" / "imagenet-samples",
        "cifar10": sd / "data" / "cifar10" / "samples",
        "report": sd / "data" / "images",
    }[kind]
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))[:limit]
    return torch.stack([load_image(p, size) for p in files]), [p.name for p in files]
