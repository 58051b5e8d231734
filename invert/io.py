"""Images in and out, atomic result files, run folders and run metadata."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import platform
import secrets
import sys
import warnings
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import torch

from invert.errors import InvertError

DEFAULT_IMAGE_NAME = "astronaut.jpg"


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


#: Largest image (width × height) read without being asked: a header claiming more is refused before decoding.
DEFAULT_MAX_PIXELS = 100_000_000
#: Images whose short side is below this many pixels are read with a warning (they carry little to invert).
MIN_IMAGE_SIDE = 16


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
    one whose short side is under 16 px is read with a warning; a truncated file is refused as such.
    """
    p = Path(path)
    if not p.exists():
        raise InvertError(f"image not found: {p} — check the path, or omit --image to use the embedded default")
    if p.is_dir():
        raise InvertError(f"image path is a folder: {p} — pass an image file (PNG/JPEG)")
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
    return (img.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)


def save_image(img: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write a (3, H, W) [0,1] image as PNG atomically."""
    path = Path(path)
    from torchvision.io import write_png

    with _atomic_path(path) as tmp, torchvision_codecs():
        write_png(to_uint8(img), str(tmp))
    return path


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 120, tight: bool = True) -> Path:
    """Write a matplotlib figure as PNG atomically, then free it (works for pyplot and object-API figures)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", **({"bbox_inches": "tight"} if tight else {}))
    if (
        "matplotlib.pyplot" in sys.modules
    ):  # only pyplot figures need closing; importing pyplot here would pick a backend
        sys.modules["matplotlib.pyplot"].close(fig)
    return path


class _atomic_path:
    """Context manager yielding a temporary path in the target's folder, renamed onto it on success.

    The temporary file is created with mode 0666 less the umask (0644 under umask 022), as any
    other tool's files are — not mkstemp's 0600.
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    def __enter__(self) -> Path:
        _make_dirs(self.path.parent)
        for _ in range(100):
            tmp = self.path.parent / f".{self.path.name}.{secrets.token_hex(4)}{self.path.suffix or '.tmp'}"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            except PermissionError:
                raise InvertError(
                    f"cannot write in {self.path.parent}: permission denied — choose a folder you can write"
                ) from None
            os.close(fd)
            self.tmp = tmp
            return tmp
        raise InvertError(f"cannot create a temporary file beside {self.path}")  # pragma: no cover

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


def _plain(obj: Any, where: str, non_finite: dict[str, str]) -> Any:
    """``obj`` as plain JSON values: tensors/numpy to lists or numbers, paths to text, NaN/±inf to None
    (noted by path).
    """
    if isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            non_finite[where or "."] = repr(obj)
            return None
        return obj
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): _plain(v, f"{where}.{k}" if where else str(k), non_finite) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f"{where}[{i}]", non_finite) for i, v in enumerate(obj)]
    if isinstance(obj, Path):
        return str(obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return _plain(asdict(obj), where, non_finite)
    if hasattr(obj, "tolist"):  # tensors and numpy arrays/scalars
        return _plain(obj.tolist(), where, non_finite)
    if hasattr(obj, "item"):
        return _plain(obj.item(), where, non_finite)
    return str(obj)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write strict JSON atomically (tensors, numpy values and paths converted).

    NaN and ±inf, which strict parsers reject, are written as ``null``; a dict then gains a
    ``non_finite`` field mapping each such value's path (``runs[0].m_g``) to what it was (``inf``).
    """
    non_finite: dict[str, str] = {}
    plain = _plain(data, "", non_finite)
    if non_finite and isinstance(plain, dict):
        plain["non_finite"] = {**(plain.get("non_finite") or {}), **non_finite}
    return write_text(path, json.dumps(plain, indent=2, allow_nan=False, ensure_ascii=False) + "\n")


def write_csv(
    path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], fieldnames: Iterable[str] | None = None
) -> Path:
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


#: Files whose presence marks a folder as invert's results: ``config.json`` is every command's manifest;
#: ``metrics.json``, ``comparison.json`` and ``verdict.json`` are results; ``run.json`` (decoder runs) and
#: ``summary.json`` (classifier runs) are the manifests of folders from before config.json was every command's.
RESULT_MARKERS = ("config.json", "metrics.json", "comparison.json", "verdict.json", "run.json", "summary.json")
#: What ``--overwrite`` clears from a results folder before a new run writes into it (top level only).
RESULT_SUFFIXES = (".png", ".json", ".csv", ".md", ".pt", ".txt", ".npz", ".npy", ".pdf", ".svg")
LOCK_NAME = ".invert.lock"
_LOCKS: dict[Path, int] = {}


def _make_dirs(path: Path) -> None:
    """``mkdir -p`` that says in one line why it cannot (permission, a file in the way)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise InvertError(f"cannot create folder {path}: permission denied — choose an --out you can write") from None
    except (FileExistsError, NotADirectoryError):
        raise InvertError(f"cannot create folder {path}: a file is in the way — choose another --out") from None
    except OSError as exc:
        raise InvertError(f"cannot create folder {path}: {exc.strerror} — choose another --out") from None


def make_folder(path: str | os.PathLike) -> Path:
    """Create ``path`` (and its parents) or say in one line why not."""
    _make_dirs(Path(path))
    return Path(path)


def secondary_rank() -> bool:
    """True in a torchrun worker other than rank 0: it neither locks folders nor writes manifests (rank 0 does)."""
    return os.environ.get("RANK", "0") != "0"


def folder_contents(path: Path) -> list[Path]:
    """What a folder holds, ignoring invert's own hidden bookkeeping (the lock file)."""
    return [p for p in path.iterdir() if not p.name.startswith(".invert")]


def lock_folder(path: str | os.PathLike) -> Path:
    """Hold an exclusive lock on ``path`` for this process, so a second run on the same folder refuses.

    The lock (an ``fcntl`` lock on ``path/.invert.lock``) ends with :func:`release_folder` or the process.
    """
    path = Path(path)
    key = path.resolve()
    if key in _LOCKS or secondary_rank():
        return path
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no advisory locks on this platform
        return path
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        raise InvertError(f"cannot write in {path}: permission denied — choose an --out you can write") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise InvertError(
            f"output folder {path} is in use by another invert run — wait for it to finish, or choose another --out"
        ) from None
    _LOCKS[key] = fd
    return path


def release_folder(path: str | os.PathLike | None = None) -> None:
    """Release this process's lock on ``path`` (every lock it holds when ``None``)."""
    keys = list(_LOCKS) if path is None else [Path(path).resolve()]
    for key in keys:
        fd = _LOCKS.pop(key, None)
        if fd is not None:
            os.close(fd)


def clear_results(path: str | os.PathLike) -> list[Path]:
    """Remove an earlier run's result files (top level, :data:`RESULT_SUFFIXES`) so none is left stale; returns them."""
    gone = [p for p in folder_contents(Path(path)) if p.is_file() and p.suffix in RESULT_SUFFIXES]
    for p in gone:
        p.unlink()
    return gone


def prepare_out_dir(
    out: str | os.PathLike | None, default_parent: str | os.PathLike, stem: str, overwrite: bool
) -> Path:
    """The folder a run writes to: made, writable, locked for this process, and empty of earlier results.

    Without ``out``, a fresh timestamped folder ``default_parent/<time>-<stem>`` is made. An
    existing non-empty ``out`` is refused unless ``overwrite``; with it, the earlier run's result
    files are removed first — only in a folder invert wrote (one holding ``config.json`` or an
    older manifest), never in a folder of other files. A folder another run is writing is refused.
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
    _make_dirs(path)
    if not os.access(path, os.W_OK | os.X_OK):
        raise InvertError(f"cannot write in {path}: permission denied — choose an --out you can write")
    lock_folder(path)
    try:
        held = folder_contents(path)
        if held and not overwrite:
            raise InvertError(
                f"output folder {path} already holds results — pass --overwrite to replace them, "
                "or choose another --out"
            )
        if held and not any((path / m).is_file() for m in RESULT_MARKERS):
            raise InvertError(
                f"output folder {path} holds files invert did not write (no config.json) — "
                f"--overwrite only replaces invert results: choose an empty or new --out"
            )
        if held:
            clear_results(path)
    except BaseException:
        release_folder(path)
        raise
    return path


_COMMAND_LINE: list[str] | None = None


def set_command_line(argv: Sequence[str]) -> None:
    """Record the command line of this process (the CLI calls it) for every ``config.json`` it writes."""
    global _COMMAND_LINE
    _COMMAND_LINE = ["invert", *argv[1:]]


def write_config(
    out: str | os.PathLike,
    command: str,
    *,
    seed: int | None,
    device: Any = None,
    status: str = "complete",
    **sections: Any,
) -> Path:
    """``OUT/config.json``, every command's manifest: the command line as typed, folder, seed, settings, versions,
    status.

    ``command_line`` is ``None`` when the run came from the Python API rather than the ``invert`` command.
    """
    import shlex

    if secondary_rank():
        return Path(out) / "config.json"
    line = _COMMAND_LINE
    data = {
        "command": f"invert {command}",
        "command_line": shlex.join(line) if line else None,
        "argv": line,
        "cwd": os.getcwd(),
        "out": str(out),
        "seed": seed,
        "status": status,
        **sections,
        "environment": environment_info(device),
    }
    return write_json(Path(out) / "config.json", data)


def environment_info(device: torch.device | str | None = None) -> dict[str, Any]:
    """Versions and hardware, recorded beside every result so it can be reproduced."""
    from importlib.metadata import PackageNotFoundError, version

    from invert import __version__

    def _version(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    info: dict[str, Any] = {
        "invert": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "kornia": _version("kornia"),
        "numpy": _version("numpy"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "time": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    from invert.training.distributed import describe  # torchrun: world size and backend of the process group

    info["distributed"] = describe()
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
    table = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "float": torch.float32,
        "float64": torch.float64,
        "fp64": torch.float64,
        "double": torch.float64,
    }
    if name not in table:
        raise InvertError(f"unknown dtype {name!r}: use float32 or float64")
    return table[name]


def shared_dir() -> Path | None:
    """The offline material folder: $INVERT_SHARED, else ../shared beside the project root, else None.

    ``INVERT_SHARED=none`` forces "absent" (what a bare clone sees), even with ../shared present.
    """
    env = os.environ.get("INVERT_SHARED")
    if env and env.strip().lower() in ("none", "off"):
        return None
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent
    for cand in (here.parent / "shared", Path.cwd().parent / "shared", Path.cwd() / "shared"):
        if (cand / "data").is_dir():
            return cand
    return None
