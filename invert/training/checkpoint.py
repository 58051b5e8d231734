"""Epoch checkpoints that make long training resumable: atomic saves, RNG state included.

``Checkpointer(folder)`` writes ``last.pt`` (everything needed to resume) after each epoch and
``best.pt`` when a tracked metric improves. ``resume()`` restores model, optimiser and RNG
states and returns the next epoch, so an interrupted run continues exactly where it stopped.

Checkpoints hold only tensors and plain Python values (the RNG states included) and are read
with ``torch.load(weights_only=True)``: a file from somewhere else cannot run code when loaded.
"""

from __future__ import annotations

import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from invert.errors import InvertError
from invert.io import atomic_path


def rng_state() -> dict[str, Any]:
    """torch, numpy and Python RNG states as tensors and plain values (loadable with ``weights_only=True``)."""
    numpy_state: Any = np.random.get_state()
    kind, keys, pos, has_gauss, cached = numpy_state
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; one-line errors for a corrupt file and for one that holds code."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" in str(exc).lower():  # a pickle naming code to call; garbage fails otherwise
            raise InvertError(
                f"refused to load {path}: it holds objects other than tensors and plain values, which could "
                f"run code — delete it (or start over with --no-resume / --overwrite) if you did not write it"
            ) from None
        raise InvertError(
            f"checkpoint {path} is corrupt ({exc.__class__.__name__}) — delete it, or start over with --no-resume"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InvertError(
            f"checkpoint {path} is corrupt or truncated ({exc.__class__.__name__}) — delete it, "
            f"or start over with --no-resume"
        ) from None


class Checkpointer:
    """Saves and restores ``{name: module_or_optimizer}`` plus epoch, history and extra state."""

    def __init__(self, folder: str | Path, objects: dict[str, Any]):
        self.folder = Path(folder)
        self.objects = objects
        self.folder.mkdir(parents=True, exist_ok=True)

    @property
    def last(self) -> Path:
        return self.folder / "last.pt"

    @property
    def best(self) -> Path:
        return self.folder / "best.pt"

    def save(
        self, epoch: int, history: list[dict[str, Any]], extra: dict[str, Any] | None = None, best: bool = False
    ) -> None:
        """Write the state after ``epoch`` (0-based, completed) atomically; also as best.pt if ``best`` (written first).

        Under torchrun only rank 0 writes; every rank waits until it has, so all resume from the same file.
        """
        from invert.training import distributed

        if not distributed.is_main():
            distributed.barrier()
            return
        payload = {
            "epoch": epoch,
            "history": history,
            "extra": extra or {},
            "rng": rng_state(),
            "state": {k: v.state_dict() for k, v in self.objects.items()},
        }
        # best.pt first: once last.pt says this epoch is done, best.pt already holds it. The other order left a window
        # where a kill -9 kept last.pt's epoch but an older (or no) best.pt, and the resumed run ended with the wrong
        # best weights (tests/test_checkpoint.py simulates the kill between the two writes).
        if best:
            with atomic_path(self.best) as tmp:
                torch.save(payload, tmp)
        with atomic_path(self.last) as tmp:
            torch.save(payload, tmp)
        distributed.barrier()

    def resume(self) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
        """Restore from last.pt if present: returns (next epoch, history, extra); (0, [], {}) otherwise."""
        if not self.last.is_file():
            return 0, [], {}
        payload = load_checkpoint(self.last)
        for k, v in self.objects.items():
            v.load_state_dict(payload["state"][k])
        set_rng_state(payload["rng"])
        return payload["epoch"] + 1, payload["history"], payload["extra"]

    def load_best_into(self, name: str, module: torch.nn.Module) -> bool:
        """Load the best-epoch weights of ``name`` into ``module``; False if no best.pt exists."""
        src = self.best if self.best.is_file() else self.last
        if not src.is_file():
            return False
        module.load_state_dict(load_checkpoint(src)["state"][name])
        return True
