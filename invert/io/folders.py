"""Run folders: made, locked against a second run, and cleared of an earlier run's results on ``--overwrite``."""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path, PurePosixPath
from typing import Callable

from invert.errors import InvertError
from invert.io.files import MANIFEST, _make_dirs, unwatch, watch
from invert.ranks import secondary_rank

#: Files whose presence marks a folder as invert's results: ``config.json`` is every command's manifest;
#: ``metrics.json``, ``comparison.json`` and ``verdict.json`` are results; ``run.json`` (decoder runs) and
#: ``summary.json`` (classifier runs) are the manifests of folders from before config.json was every command's.
RESULT_MARKERS = ("config.json", "metrics.json", "comparison.json", "verdict.json", "run.json", "summary.json")
#: What ``--overwrite`` clears from a folder whose manifest predates the ``files`` list (top level only).
RESULT_SUFFIXES = (".png", ".json", ".csv", ".md", ".pt", ".txt", ".npz", ".npy", ".pdf", ".svg")
LOCK_NAME = ".invert.lock"
_LOCKS: dict[Path, int] = {}
#: Folders this process created for a run: removed again when released empty (a refused command leaves none).
_CREATED: set[Path] = set()


def folder_contents(path: Path) -> list[Path]:
    """What a folder holds, ignoring invert's own hidden bookkeeping (the lock file)."""
    return [p for p in path.iterdir() if not p.name.startswith(".invert")]


def _flock(lock: Path) -> int | None:
    """An exclusive lock on the file ``lock`` (created if missing): its descriptor, or ``None`` if held elsewhere.

    A lock file is removed when its run ends, so the lock is taken on the file that is *still* at the path: one
    unlinked after we opened it is dropped and the path opened again.
    """
    import fcntl

    for _ in range(20):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the file was removed by the run that just ended: lock the new one
    return None  # pragma: no cover


def lock_folder(path: str | os.PathLike, what: str = "invert run") -> Path:
    """Hold an exclusive lock on ``path`` for this process, so a second run on the same folder refuses.

    The lock (an ``fcntl`` lock on ``path/.invert.lock``) ends with :func:`release_folder`, which removes the
    file, or with the process.
    """
    path = Path(path)
    key = path.resolve()
    if key in _LOCKS or secondary_rank():
        return path
    try:
        import fcntl  # noqa: F401
    except ImportError:  # pragma: no cover - no advisory locks on this platform
        return path
    try:
        fd = _flock(path / LOCK_NAME)
    except PermissionError:
        raise InvertError(f"cannot write in {path}: permission denied — choose an --out you can write") from None
    if fd is None:
        raise InvertError(
            f"output folder {path} is in use by another {what} — wait for it to finish, or choose another --out"
        )
    _LOCKS[key] = fd
    return path


def release_folder(path: str | os.PathLike | None = None) -> None:
    """Release this process's lock on ``path`` (every lock it holds when ``None``) and remove its lock file."""
    keys = list(_LOCKS) if path is None else [Path(path).resolve()]
    for key in keys:
        fd = _LOCKS.pop(key, None)
        unwatch(key)
        if fd is not None:
            try:
                (key / LOCK_NAME).unlink(missing_ok=True)  # removed while still held: no other run slips in between
            except OSError:
                pass
            os.close(fd)
        if key in _CREATED:
            _CREATED.discard(key)
            try:
                key.rmdir()  # only if empty: the command stopped before writing anything
            except OSError:
                pass


def claim_folder(path: str | os.PathLike, what: str = "invert run") -> Path:
    """Create ``path`` if needed and lock it (:func:`lock_folder`); one created here and released empty is removed."""
    path = Path(path)
    new = not path.exists()
    _make_dirs(path)
    if new:
        _CREATED.add(path.resolve())
    try:
        return lock_folder(path, what)
    except BaseException:
        release_folder(path)
        raise


def build_once(
    folder: str | os.PathLike,
    build: Callable[[Path], object],
    *,
    complete: Callable[[Path], bool],
    what: str = "cached build",
) -> bool:
    """Make ``folder`` once, by ``build(partial)``: the cache of an expensive result (a trained helper model).

    ``build`` writes into ``FOLDER.partial``, which is locked (a second process building the same folder is refused
    with a clear error rather than racing it) and kept when ``build`` fails or is killed, so a ``build`` that resumes
    from what it finds there continues. Only a finished build is moved to ``folder``, so ``complete(folder)`` — the
    caller's test of a usable result — never sees a half-written one. Returns whether ``folder`` was already
    complete (reused) rather than built here.
    """
    import shutil

    folder = Path(folder)
    if complete(folder):
        return True
    partial = claim_folder(folder.with_name(folder.name + ".partial"), what)
    try:
        build(partial)
    finally:
        release_folder(partial)
    if not complete(partial):
        raise InvertError(f"{what} in {partial} ended without a complete result — run the command again to resume it")
    shutil.rmtree(folder, ignore_errors=True)  # a broken earlier result (a complete one was reused)
    os.replace(partial, folder)
    return False


def listed_files(path: str | os.PathLike) -> list[str] | None:
    """The files the earlier run's manifest lists as written (``None`` for a manifest from before the list)."""
    try:
        data = json.loads((Path(path) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        return None
    safe = [f for f in files if isinstance(f, str) and f and ".." not in PurePosixPath(f).parts]
    return [f for f in safe if not PurePosixPath(f).is_absolute()]


def clear_results(path: str | os.PathLike) -> list[Path]:
    """Remove the earlier run's result files so none is left stale; returns them.

    Only the files its manifest lists are removed (and folders they leave empty); anything else a user keeps
    there stays. A folder whose manifest predates the list loses its top-level files with result suffixes.
    """
    root = Path(path)
    listed = listed_files(root)
    if listed is None:
        gone = [p for p in folder_contents(root) if p.is_file() and p.suffix in RESULT_SUFFIXES]
    else:
        gone = [root / f for f in listed if (root / f).is_file() and f != MANIFEST]
    for p in gone:
        p.unlink()
    for folder in sorted({p.parent for p in gone if p.parent != root}, key=lambda q: -len(q.parts)):
        while folder != root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent
    return gone


def check_out_dir(out: str | os.PathLike | None, overwrite: bool) -> None:
    """Refuse an ``--out`` that :func:`prepare_out_dir` would refuse, creating nothing: commands call it first."""
    if out is None:
        return
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise InvertError(f"--out {path} is a file, not a folder — choose another path")
    if not path.is_dir():
        return
    held = folder_contents(path)
    if held and not overwrite:
        raise InvertError(
            f"output folder {path} already holds results — pass --overwrite to replace them, or choose another --out"
        )
    if held and not any((path / m).is_file() for m in RESULT_MARKERS):
        raise InvertError(
            f"output folder {path} holds files invert did not write (no config.json) — "
            f"--overwrite only replaces invert results: choose an empty or new --out"
        )


def prepare_out_dir(
    out: str | os.PathLike | None, default_parent: str | os.PathLike, stem: str, overwrite: bool
) -> Path:
    """The folder a run writes to: made, writable, locked for this process, and empty of earlier results.

    Without ``out``, a fresh timestamped folder ``default_parent/<time>-<stem>`` is made. An
    existing non-empty ``out`` is refused unless ``overwrite``; with it, the files the earlier run's
    manifest lists are removed first — only in a folder invert wrote (one holding ``config.json`` or an
    older manifest), never in a folder of other files. A folder another run is writing is refused.
    The files this run writes there are listed in its manifest (``config.json``'s ``files``).
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
    if not path.exists():
        _make_dirs(path)
        _CREATED.add(path.resolve())
    if not os.access(path, os.W_OK | os.X_OK):
        raise InvertError(f"cannot write in {path}: permission denied — choose an --out you can write")
    claim_folder(path)
    try:
        check_out_dir(path, overwrite)
        if folder_contents(path):
            clear_results(path)
    except BaseException:
        release_folder(path)
        raise
    watch(path)
    return path
