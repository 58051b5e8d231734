"""Images in and out, atomic result files, run folders and run metadata."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import platform
import tempfile
import warnings
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch
import torchvision
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms import v2 as T

from invert.errors import InvertError

DEFAULT_IMAGE_NAME = "astronaut.jpg"
# torchvision 0.29 marks its image codecs deprecated in favour of torchcodec; they still work and are what we use.
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision", category=DeprecationWarning)


def default_image_path() -> Path:
    """The photograph embedded in the package (NASA's Eileen Collins, public domain, via scikit-image)."""
    return Path(str(resources.files("invert") / "assets" / DEFAULT_IMAGE_NAME))


def load_image(path: str | os.PathLike, size: int | None = None, resize: str = "crop") -> torch.Tensor:
    """Read an image file as a float (3, H, W) tensor in [0, 1], optionally made ``size``×``size``.

    ``resize="crop"`` scales the short side to ``size`` and centre-crops (keeps aspect);
    ``resize="stretch"`` scales both sides to ``size`` (the reference code's choice).
    """
    p = Path(path)
    if not p.exists():
        raise InvertError(f"image not found: {p} — check the path, or omit --image to use the embedded default")
    if p.is_dir():
        raise InvertError(f"image path is a folder: {p} — pass an image file (PNG/JPEG)")
    try:
        data = torchvision.io.read_file(str(p))
        img = decode_image(data, mode=ImageReadMode.RGB)
    except Exception as exc:  # torchvision raises RuntimeError with a C++ message
        raise InvertError(f"cannot read image {p}: not a PNG/JPEG/WebP/GIF file torchvision can decode ({exc.__class__.__name__})") from None
    img = img.float() / 255.0
    return resize_image(img, size, resize) if size is not None else img


def resize_image(img: torch.Tensor, size: int, mode: str = "crop") -> torch.Tensor:
    """Resize a (..., 3, H, W) image to a square ``size`` by centre crop or stretch, antialiased."""
    if size < 8:
        raise InvertError(f"--size {size} is too small: use at least 8 pixels")
    if mode == "crop":
        out = T.functional.resize(img, [size], antialias=True)
        out = T.functional.center_crop(out, [size, size])
    elif mode == "stretch":
        out = T.functional.resize(img, [size, size], antialias=True)
    else:
        raise InvertError(f"unknown resize mode {mode!r}: use 'crop' or 'stretch'")
    return out.clamp(0, 1)


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """A [0,1] float image (3, H, W) as uint8, clamped (generated images may leave [0, 1])."""
    return (img.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)


def save_image(img: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write a (3, H, W) [0,1] image as PNG atomically."""
    path = Path(path)
    with _atomic_path(path) as tmp:
        torchvision.io.write_png(to_uint8(img), str(tmp))
    return path


class _atomic_path:
    """Context manager yielding a temporary path in the target's folder, renamed onto it on success."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=self.path.suffix or ".tmp", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def atomic_path(path: str | os.PathLike) -> _atomic_path:
    """``with atomic_path(p) as tmp: write(tmp)`` — the file at ``p`` is replaced only once complete."""
    return _atomic_path(Path(path))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON atomically (tensors, numpy values and paths converted)."""
    return write_text(path, json.dumps(data, indent=2, default=_json_default, allow_nan=True) + "\n")


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], fieldnames: Iterable[str] | None = None) -> Path:
    """Write a list of dict rows as CSV atomically."""
    rows = list(rows)
    names = list(fieldnames) if fieldnames is not None else (list(rows[0].keys()) if rows else [])
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=names, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({k: _csv_value(r.get(k)) for k in names})
    return Path(path)


def _csv_value(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, torch.Tensor):
        return v.item() if v.numel() == 1 else v.tolist()
    return v


def prepare_out_dir(out: str | os.PathLike | None, default_parent: str | os.PathLike, stem: str, overwrite: bool) -> Path:
    """The folder a run writes to; refuse a non-empty existing one unless ``overwrite``.

    Without ``out``, a fresh timestamped folder ``default_parent/<time>-<stem>`` is made.
    """
    if out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path(default_parent) / f"{stamp}-{stem}"
        path, k = base, 1
        while path.exists():
            k += 1
            path = base.with_name(f"{base.name}-{k}")
    else:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise InvertError(f"--out {path} is a file, not a folder — choose another path")
        if path.exists() and any(path.iterdir()) and not overwrite:
            raise InvertError(f"output folder {path} already holds results — pass --overwrite to replace them, or choose another --out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def environment_info(device: torch.device | str | None = None) -> dict[str, Any]:
    """Versions and hardware, recorded beside every result so it can be reproduced."""
    import numpy
    import kornia

    from invert import __version__

    info: dict[str, Any] = {
        "invert": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "kornia": kornia.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "time": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    dev = torch.device(device) if device is not None else None
    info["device"] = str(dev) if dev is not None else None
    if dev is not None and dev.type == "cuda" and torch.cuda.is_available():
        info["cuda"] = torch.version.cuda
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


def resolve_device(name: str | None) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise the named device, checked."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise InvertError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvertError(f"device {name!r} requested but CUDA is not available here — use --device cpu")
    return dev


def resolve_dtype(name: str) -> torch.dtype:
    """'float32'/'float64' (also 'fp32', 'double', ...) → torch dtype."""
    table = {"float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
             "float64": torch.float64, "fp64": torch.float64, "double": torch.float64}
    if name not in table:
        raise InvertError(f"unknown dtype {name!r}: use float32 or float64")
    return table[name]


def shared_dir() -> Path | None:
    """The offline material folder: $INVERT_SHARED, else ../shared beside the project root, else None."""
    env = os.environ.get("INVERT_SHARED")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent
    for cand in (here.parent / "shared", Path.cwd().parent / "shared", Path.cwd() / "shared"):
        if (cand / "data").is_dir():
            return cand
    return None
