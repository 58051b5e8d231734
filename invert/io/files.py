"""Atomic files and folders: every result file appears whole or not at all, and the files a run wrote are listed.

A file is written to a hidden temporary beside its target and renamed onto it once complete. Folders a run
writes into are *watched* (:func:`watch`): each new file written there is added to the folder's manifest
(``config.json``'s ``files``), so ``--overwrite`` later removes exactly those and nothing else.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from invert.errors import InvertError

MANIFEST = "config.json"
#: Result folder (resolved) → the paths (relative, POSIX) this process has written there.
_WATCHED: dict[Path, set[str]] = {}


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


def watch(folder: str | os.PathLike) -> None:
    """Record every file this process writes under ``folder`` from now on (see :func:`written`)."""
    _WATCHED.setdefault(Path(folder).resolve(), set())


def unwatch(folder: str | os.PathLike) -> None:
    _WATCHED.pop(Path(folder).resolve(), None)


def written(folder: str | os.PathLike) -> list[str] | None:
    """The files this process wrote under a watched ``folder`` (relative paths, sorted); ``None`` if unwatched."""
    names = _WATCHED.get(Path(folder).resolve())
    return None if names is None else sorted(names)


def _note_written(path: Path) -> None:
    """Add ``path`` to the list of every watched folder holding it; a new name is recorded in that manifest."""
    if not _WATCHED:
        return
    full = path.parent.resolve() / path.name
    for root, names in _WATCHED.items():
        if root not in full.parents:
            continue
        rel = full.relative_to(root).as_posix()
        if rel in names:
            continue
        names.add(rel)
        if rel != MANIFEST and (root / MANIFEST).is_file():
            _list_in_manifest(root, sorted(names))


def _list_in_manifest(root: Path, names: list[str]) -> None:
    """Rewrite ``root/config.json`` with ``files`` = ``names`` (a manifest that does not parse is left alone)."""
    try:
        data = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return
    if isinstance(data, dict) and data.get("files") != names:
        data["files"] = names
        write_text(root / MANIFEST, json.dumps(data, indent=2, allow_nan=False, ensure_ascii=False) + "\n")


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
            _note_written(self.path)
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
    if hasattr(v, "numel") and hasattr(v, "tolist"):  # a tensor (torch is not imported for this check)
        return v.item() if v.numel() == 1 else v.tolist()
    return v


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 120, tight: bool = True) -> Path:
    """Write a matplotlib figure as PNG atomically, then free it (works for pyplot and object-API figures)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", **({"bbox_inches": "tight"} if tight else {}))
    if "matplotlib.pyplot" in sys.modules:  # only pyplot figures need closing; importing pyplot would pick a backend
        sys.modules["matplotlib.pyplot"].close(fig)
    return path
