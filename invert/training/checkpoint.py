"""Epoch checkpoints that make long training resumable: atomic saves, RNG state included.

``Checkpointer(folder)`` writes ``last.pt`` (everything needed to resume) after each epoch and
``best.pt`` when a tracked metric improves. ``resume()`` restores model, optimiser and RNG
states and returns the next epoch, so an interrupted run continues exactly where it stopped.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from invert.io import atomic_path


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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

    def save(self, epoch: int, history: list[dict[str, Any]], extra: dict[str, Any] | None = None, best: bool = False) -> None:
        """Write the state after ``epoch`` (0-based, completed) atomically; also as best.pt if ``best``."""
        payload = {
            "epoch": epoch,
            "history": history,
            "extra": extra or {},
            "rng": rng_state(),
            "state": {k: v.state_dict() for k, v in self.objects.items()},
        }
        with atomic_path(self.last) as tmp:
            torch.save(payload, tmp)
        if best:
            with atomic_path(self.best) as tmp:
                torch.save(payload, tmp)

    def resume(self) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
        """Restore from last.pt if present: returns (next epoch, history, extra); (0, [], {}) otherwise."""
        if not self.last.is_file():
            return 0, [], {}
        payload = torch.load(self.last, map_location="cpu", weights_only=False)
        for k, v in self.objects.items():
            v.load_state_dict(payload["state"][k])
        set_rng_state(payload["rng"])
        return payload["epoch"] + 1, payload["history"], payload["extra"]

    def load_best_into(self, name: str, module: torch.nn.Module) -> bool:
        """Load the best-epoch weights of ``name`` into ``module``; False if no best.pt exists."""
        src = self.best if self.best.is_file() else self.last
        if not src.is_file():
            return False
        module.load_state_dict(torch.load(src, map_location="cpu", weights_only=False)["state"][name])
        return True
