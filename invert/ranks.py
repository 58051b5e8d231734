"""Which process of a torchrun group this is: the few facts every layer needs, with no torch at import.

:mod:`invert.io` (folders, manifests) and :mod:`invert.training.distributed` (the process group) both ask;
keeping the answer here, below both, means neither imports the other.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def secondary_rank() -> bool:
    """True in a torchrun worker other than rank 0: it neither locks folders nor writes manifests (rank 0 does)."""
    return os.environ.get("RANK", "0") != "0"


def group_info() -> dict[str, Any]:
    """``{world_size, backend}`` of this process: the joined group's, else what torchrun's environment says."""
    dist = sys.modules.get("torch.distributed")  # a group can only have been joined if torch.distributed is loaded
    if dist is not None and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return {"world_size": dist.get_world_size(), "backend": dist.get_backend()}
    return {"world_size": int(os.environ.get("WORLD_SIZE", "1")), "backend": None}
