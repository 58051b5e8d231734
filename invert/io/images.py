"""Images in and out: read (bit depth, formats, size limits) and write PNGs atomically."""

from __future__ import annotations

import os
import stat
import warnings
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from invert.errors import InvertError
from invert.io.files import atomic_path

if TYPE_CHECKING:
    import torch

DEFAULT_IMAGE_NAME = "astronaut.jpg"
#: Largest image (width × height) read without being asked: a header claiming more is refused before decoding.
DEFAULT_MAX_PIXELS = 100_000_000
#: Images whose short side is below this many pixels are read with a warning (they carry little to invert).
MIN_IMAGE_SIDE = 16


@contextmanager
def torchvision_codecs() -> Iterator[None]:
    """Silence torchvision 0.29's deprecation notice for its image codecs (they work and are what we use), only here."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The image decoding and encoding capabilities of TorchVision", category=DeprecationWarning
        )
        yield


def default_image_path() -> Path:
    """The photograph embedded in the package (NASA's Eileen Collins, public domain, via scikit-image)."""
    return Path(str(resources.files("invert") / "assets" / DEFAULT_IMAGE_NAME))


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The pixel limit: ``max_pixels`` if given, else $INVERT_MAX_PIXELS, else :data:`DEFAULT_MAX_PIXELS`."""
    if max_pixels is not None:
        return int(max_pixels)
    env = os.environ.get("INVERT_MAX_PIXELS")
    if not env:
        return DEFAULT_MAX_PIXELS
    try:
        return int(float(env))
    except ValueError:
        raise InvertError(
            f"INVERT_MAX_PIXELS={env!r} is not a number — set it to a pixel count such as 400000000"
        ) from None


def check_image_file(path: str | os.PathLike) -> Path:
    """``path`` as a readable regular file, or one line saying why not (missing, a folder, a FIFO or device)."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise InvertError(
            f"image not found: {p} — check the path, or omit --image to use the embedded default"
        ) from None
    except OSError as exc:
        raise InvertError(f"cannot read image {p}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise InvertError(f"image path is a folder: {p} — pass an image file (PNG/JPEG)")
    if not stat.S_ISREG(mode):
        raise InvertError(f"image path {p} is not a regular file (a pipe, socket or device) — pass an image file")
    return p


def image_header_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header alone (PIL opens lazily), so huge images cost nothing to inspect."""
    from PIL import Image, UnidentifiedImageError

    bomb_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own limit applies below; PIL's would refuse before we can say the size
    try:
        with Image.open(path) as im:
            return im.size
    except UnidentifiedImageError:
        raise InvertError(f"cannot read image {path}: not an image file (expected PNG/JPEG/WebP/GIF)") from None
    except Exception as exc:
        raise InvertError(
            f"cannot read image {path}: its header is corrupt ({exc.__class__.__name__}: {exc})"
        ) from None
    finally:
        Image.MAX_IMAGE_PIXELS = bomb_limit


def load_image(
    path: str | os.PathLike, size: int | None = None, resize: str = "crop", max_pixels: int | None = None
) -> torch.Tensor:
    """Read an image file as a float (3, H, W) tensor in [0, 1], optionally made ``size``×``size``.

    ``resize="crop"`` scales the short side to ``size`` and centre-crops (keeps aspect);
    ``resize="stretch"`` scales both sides to ``size`` (the reference code's choice).
    Pixel values are scaled by the file's real bit depth (16-bit PNGs by 65535). An image larger
    than ``max_pixels`` (default $INVERT_MAX_PIXELS or 100 million) is refused before decoding;
    one whose short side is under 16 px is read with a warning; a truncated file is refused as such;
    a pipe or device (which would block or never end) is refused before opening.
    """
    p = check_image_file(path)
    width, height = image_header_size(p)
    limit = max_pixels_limit(max_pixels)
    if width * height > limit:
        raise InvertError(
            f"image {p} is {width}×{height} = {width * height:,} pixels, over the limit of {limit:,} — "
            f"shrink it, or raise the limit with --max-pixels / INVERT_MAX_PIXELS"
        )
    if min(width, height) < MIN_IMAGE_SIDE:
        warnings.warn(
            f"image {p} is only {width}×{height} px: it carries little detail"
            + (f" and is upsampled to {size}×{size}" if size is not None else ""),
            UserWarning,
            stacklevel=2,
        )
    img = _decode(p)
    return resize_image(img, size, resize) if size is not None else img


def _decode(p: Path) -> torch.Tensor:
    """Decode to a float (3, H, W) tensor in [0, 1], scaled by the file's bit depth: torchvision first,
    PIL for other formats.
    """
    import torch

    try:
        from torchvision.io import (  # torchvision is imported where used: it is slow
            ImageReadMode,
            decode_image,
            read_file,
        )

        with torchvision_codecs():
            img = decode_image(read_file(str(p)), mode=ImageReadMode.RGB)
        return img.float() / float(torch.iinfo(img.dtype).max)  # uint8 → /255, 16-bit PNG (uint16) → /65535
    except Exception:  # other formats, or a damaged file: PIL decodes the former and says what is wrong with the latter
        pass
    import numpy as np
    from PIL import Image

    try:
        with Image.open(p) as im:
            im.load()
            if im.mode.startswith("I;16"):  # 16-bit greyscale (TIFF and others)
                grey = torch.from_numpy(np.asarray(im).astype(np.float32) / 65535.0)
                return grey.expand(3, *grey.shape).clone()
            return torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1).float() / 255.0
    except Exception as exc:
        raise InvertError(
            f"cannot read image {p}: the file is truncated or corrupt ({exc}) — re-export or re-download it"
        ) from None


def resize_image(img: torch.Tensor, size: int, mode: str = "crop") -> torch.Tensor:
    """Resize a (..., 3, H, W) image to a square ``size`` by centre crop or stretch, antialiased."""
    if size < 8:
        raise InvertError(f"--size {size} is too small: use at least 8 pixels")
    from torchvision.transforms import v2 as T

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
    import torch

    return (img.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)


def save_image(img: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write a (3, H, W) [0,1] image as PNG atomically."""
    path = Path(path)
    from torchvision.io import write_png

    with atomic_path(path) as tmp, torchvision_codecs():
        write_png(to_uint8(img), str(tmp))
    return path
